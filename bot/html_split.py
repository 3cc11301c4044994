"""Telegram HTML split below the 4096-character limit without breaking a tag or an entity.

Pure text work for the one send path (bot/send.py).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

# Telegram counts the parsed text; counting the raw HTML (tags and entities included) in UTF-16
# code units over-estimates it, so a chunk that fits here always fits there.
MESSAGE_LIMIT = 4000
CAPTION_LIMIT = 1000

# Tags, entities, runs of ordinary characters, single whitespace characters, and a stray
# '<' or '&' (never produced by our renderer, but never allowed to derail the splitter).
_TOKEN = re.compile(r"<[^<>]*>|&(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);|[^<&\s]+|\s|[<&]", re.DOTALL)
_TAG_NAME = re.compile(r"</?\s*([a-zA-Z][\w-]*)")


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class _Token:
    text: str
    kind: Literal["open", "close", "text"]
    name: str = ""
    units: int = 0

    @classmethod
    def of(
        cls, text: str, kind: Literal["open", "close", "text"] = "text", name: str = ""
    ) -> _Token:
        return cls(text, kind, name, utf16_units(text))

    @property
    def closer_units(self) -> int:
        return len(self.name) + 3  # </name>


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    for match in _TOKEN.finditer(text):
        piece = match[0]
        tag = _TAG_NAME.match(piece) if piece.startswith("<") and len(piece) > 2 else None
        if tag is None:
            tokens.append(_Token.of(piece))
        elif piece.startswith("</"):
            tokens.append(_Token.of(piece, "close", tag[1].lower()))
        else:
            tokens.append(_Token.of(piece, "open", tag[1].lower()))
    return tokens


def _closers(stack: Sequence[_Token]) -> str:
    return "".join(f"</{t.name}>" for t in reversed(stack))


def _fitting_prefix(text: str, room: int) -> int:
    """How many characters of `text` fit in `room` UTF-16 units."""
    used = 0
    for count, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > room:
            return count
    return len(text)


@dataclass(frozen=True)
class _Break:
    index: int  # position in the chunk just after the break character
    units: int  # size of the chunk up to there
    stack: tuple[_Token, ...]  # tags open at that point


class _Chunker:
    """Packs tokens into chunks; see split_html."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: list[str] = []
        self.cur: list[_Token] = []
        self.units = 0
        self.stack: list[_Token] = []
        self.closing = 0  # units the closers of `stack` take
        self.carried = 0  # tokens at the head of `cur` that only reopen tags
        self.newline: _Break | None = None
        self.space: _Break | None = None

    def add(self, token: _Token) -> None:
        while True:
            if token.kind == "open":
                need = token.units + token.closer_units
            elif token.kind == "close" and self.stack and self.stack[-1].name == token.name:
                need = token.units - token.closer_units
            else:
                need = token.units
            if self.units + self.closing + need <= self.limit:
                self._append(token)
                return
            splittable = token.kind == "text" and not token.text.startswith("&")
            if splittable and len(token.text) > 1 and not self._good_break():
                # A long run with nowhere better to break: split the run (never an entity).
                room = self.limit - self.units - self.closing
                keep = _fitting_prefix(token.text, room)
                if keep > 0:
                    self._append(_Token.of(token.text[:keep]))
                    token = _Token.of(token.text[keep:])
            if len(self.cur) <= self.carried:
                raise ValueError(f"cannot fit {token.text[:40]!r} in {self.limit} characters")
            self._cut()

    def _good_break(self) -> bool:
        half = self.limit // 2
        return any(b is not None and b.units >= half for b in (self.newline, self.space))

    def _append(self, token: _Token) -> None:
        self.cur.append(token)
        self.units += token.units
        if token.kind == "open":
            self.stack.append(token)
            self.closing += token.closer_units
        elif token.kind == "close" and self.stack and self.stack[-1].name == token.name:
            self.closing -= self.stack.pop().closer_units
        elif token.text in ("\n", " "):
            brk = _Break(len(self.cur), self.units, tuple(self.stack))
            if token.text == "\n":
                self.newline = brk
            else:
                self.space = brk

    def _cut(self) -> None:
        half = self.limit // 2
        cut = next(
            (b for b in (self.newline, self.space) if b is not None and b.units >= half),
            _Break(len(self.cur), self.units, tuple(self.stack)),
        )
        self.chunks.append("".join(t.text for t in self.cur[: cut.index]) + _closers(cut.stack))
        rest = self.cur[cut.index :]
        self.cur, self.units, self.stack, self.closing = [], 0, [], 0
        self.newline = self.space = None
        for token in cut.stack:
            self._append(token)
        self.carried = len(self.cur)
        for token in rest:
            self._append(token)
        # Breaks inside the reopened tags would cut nothing.
        for name in ("newline", "space"):
            brk = getattr(self, name)
            if brk is not None and brk.index <= self.carried:
                setattr(self, name, None)

    def finish(self) -> list[str]:
        if len(self.cur) > self.carried:
            self.chunks.append("".join(t.text for t in self.cur) + _closers(self.stack))
        return self.chunks


def split_html(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split Telegram HTML into chunks of at most `limit` UTF-16 units each.

    Breaks after a newline in the second half of a chunk where it can, else after a space
    there, else anywhere outside a tag or an entity. Tags open at a break are closed at the
    end of the chunk and reopened at the start of the next, so every chunk parses on its own;
    no character of the text is lost or duplicated. Raises ValueError only when a single tag
    cannot fit in `limit` (never for our renderer).
    """
    if utf16_units(text) <= limit:
        return [text] if text else []
    chunker = _Chunker(limit)
    for token in _tokenize(text):
        chunker.add(token)
    return chunker.finish()


def html_to_plain(text: str) -> str:
    """What Telegram would show for `text`: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^<>]*>", "", text))


def truncate_html(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """The first chunk of `text`, marked with an ellipsis when something was cut."""
    chunks = split_html(text, limit - 1)
    if len(chunks) <= 1:
        return text
    return chunks[0] + "…"
