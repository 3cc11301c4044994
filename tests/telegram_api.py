"""The Bot API's error shape and its HTML parse mode, as the stand-in enforces them.

Errors: `{"ok": false, "error_code": N, "description": "...", "parameters": {"retry_after": N}}`
(ResponseParameters carries retry_after on a 429). HTML: the tags Telegram's formatting options
list, their documented attributes only (a href, span/code class, blockquote expandable,
tg-emoji emoji-id), entities, and no nested blockquote; anything else is "can't parse entities".
"""

from __future__ import annotations

import html
import re
from typing import Any

_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "span",
        "tg-spoiler",
        "blockquote",
        "tg-emoji",
    }
)
_START_TAG = re.compile(r'([a-zA-Z][\w-]*)((?:\s+[a-zA-Z][\w-]*(?:\s*=\s*"[^"<>]*")?)*)\s*')
_ATTRIBUTE = re.compile(r'([a-zA-Z][\w-]*)(?:\s*=\s*"[^"<>]*")?')
# The attributes Telegram's HTML style documents, per tag; any other is refused.
_ALLOWED_ATTRIBUTES = {
    "a": {"href"},
    "span": {"class"},
    "code": {"class"},
    "pre": set(),
    "blockquote": {"expandable"},
    "tg-emoji": {"emoji-id"},
}
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});")


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_telegram_html(source: str) -> str:
    """The text Telegram would show for `source` in HTML parse mode, or ApiError(400)."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(source):
        char = source[i]
        if char == "<":
            end = source.find(">", i)
            if end < 0:
                raise _entities_error(f"Unclosed start tag at byte offset {i}")
            body = source[i + 1 : end]
            if body.startswith("/"):
                name = body[1:].strip().lower()
                if not stack or stack[-1] != name:
                    expected = stack[-1] if stack else ""
                    raise _entities_error(
                        f'Unmatched end tag at byte offset {i}, expected "</{expected}>", '
                        f'found "</{name}>"'
                    )
                stack.pop()
            else:
                match = _START_TAG.fullmatch(body)
                name = match[1].lower() if match else body.split(" ", 1)[0]
                if match is None or name not in _TAGS:
                    raise _entities_error(f'Unsupported start tag "{name}" at byte offset {i}')
                _check_attributes(name, match[2], i)
                if name == "blockquote" and "blockquote" in stack:
                    raise _entities_error(f"Blockquote can't be nested at byte offset {i}")
                stack.append(name)
            i = end + 1
        elif char == "&":
            entity = _ENTITY.match(source, i)
            if entity is None:
                raise _entities_error(f"Can't find end of the entity starting at byte offset {i}")
            out.append(html.unescape(entity[0]))
            i = entity.end()
        else:
            out.append(char)
            i += 1
    if stack:
        raise _entities_error(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def _check_attributes(name: str, attributes: str, offset: int) -> None:
    allowed = _ALLOWED_ATTRIBUTES.get(name, set())
    for attribute in _ATTRIBUTE.finditer(attributes):
        if attribute[1].lower() not in allowed:
            raise _entities_error(
                f'Unsupported attribute "{attribute[1]}" of "{name}" at byte offset {offset}'
            )


def _entities_error(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: can't parse entities: {detail}")
