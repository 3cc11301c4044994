"""Short one-line text for the operator and the record: a clipped string, and an exception
described by its type and message."""

from __future__ import annotations


def clip(text: str, limit: int) -> str:
    """`text` on one line (whitespace runs collapsed), at most `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def describe_error(exc: BaseException, limit: int = 200) -> str:
    """`Type: message` on one line, at most `limit` characters."""
    return clip(f"{type(exc).__name__}: {exc}", limit)
