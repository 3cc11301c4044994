"""A local stand-in for the Telegram Bot API: real HTTP on 127.0.0.1 (port 0).

It speaks the Bot API's JSON for the methods the bot uses, keeps the chat as Telegram would
(messages, edits, inline keyboards), serves injected updates through long-polled getUpdates,
records every request for assertions, and can fail (HTTP 500) or hang on demand so tests can
show the bot surviving an outage.

It is deliberately as strict as Telegram where a bug would otherwise hide: HTML that Telegram
would refuse ("can't parse entities", attributes on tags that take none, nested blockquotes),
text over 4096 characters, editing a message into itself ("message is not modified"),
answering an unknown callback query. Flood control answers as the Bot API documents it: HTTP
429, `{"ok": false, "error_code": 429, "description": "Too Many Requests: retry after N",
"parameters": {"retry_after": N}}`, and a request repeated before N seconds have passed gets
another 429 (counted in `early_retries`). getUpdates follows the documented offsets: an update
is confirmed by a call with a higher offset; a negative offset reads from the end.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import itertools
import json
import math
import random
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from tests.telegram_api import (
    ApiError,
    parse_telegram_html,
    too_many_requests,
    utf16_len,
)

T = TypeVar("T")
__all__ = ["ApiError", "TelegramStandIn", "parse_telegram_html", "too_many_requests", "utf16_len"]

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_STATUS_TEXT = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


@dataclass
class Recorded:
    """One HTTP request the stand-in received, and what it did with it."""

    method: str
    params: dict[str, str]
    files: dict[str, bytes]
    outcome: str  # "ok", "error 400", "fault 500", "error 429", "hang"
    at: float

    def json_param(self, name: str) -> Any:
        value = self.params.get(name)
        return None if value is None else json.loads(value)


@dataclass
class StoredMessage:
    chat_id: int
    message_id: int
    from_bot: bool
    text: str = ""  # what the chat shows (HTML already parsed)
    html: str = ""  # what the bot sent
    caption: str = ""
    photo: bytes | None = None
    reply_markup: dict[str, Any] | None = None
    edits: int = 0
    sender_id: int = 0
    date: int = 0
    silent: bool = False  # sent with disable_notification: no sound on the phone

    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data) of every inline button, row by row."""
        if not self.reply_markup:
            return []
        rows = self.reply_markup.get("inline_keyboard", [])
        return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]

    def button_data(self, label_contains: str) -> str:
        for label, data in self.buttons():
            if label_contains in label:
                return data
        raise AssertionError(f"no button with {label_contains!r} in {self.buttons()}")


@dataclass
class _Fault:
    kind: str  # "status", "hang" or "flood"
    status: int = 500
    methods: frozenset[str] | None = None
    remaining: int | None = None  # answer this many requests so, then heal by itself
    after: int = 0  # let this many requests through first
    retry_after: int = 1

    def applies(self, method: str) -> bool:
        return self.methods is None or method in self.methods


@dataclass
class _State:
    updates: list[dict[str, Any]] = field(default_factory=list)
    messages: dict[tuple[int, int], StoredMessage] = field(default_factory=dict)
    next_message_id: dict[int, int] = field(default_factory=dict)
    callback_queries: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: dict[str, dict[str, str]] = field(default_factory=dict)
    commands: list[dict[str, str]] = field(default_factory=list)
    webhook_deleted: int = 0


class TelegramStandIn:
    """Start with `start()` (or `with TelegramStandIn() as tg:`); point the bot at `base_url`."""

    def __init__(
        self,
        token: str = "4242:standin-secret-token",
        *,
        bot_id: int = 4242,
        bot_username: str = "omega_standin_bot",
    ) -> None:
        self.token = token
        self.bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "Omega",
            "username": bot_username,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.requests: list[Recorded] = []
        self._state = _State()
        self._lock = threading.Condition()
        self._fault: _Fault | None = None
        self._flood_until = 0.0  # monotonic: requests before it get 429 again
        self.early_retries = 0  # requests repeated before their retry_after had passed
        self._throttle: tuple[float, int, random.Random, frozenset[str] | None] | None = None
        self._healed = threading.Event()
        self._stopping = threading.Event()
        self._update_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> TelegramStandIn:
        standin = self

        class Handler(_Handler):
            owner = standin

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="tg-standin"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._healed.set()
        with self._lock:
            self._lock.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> TelegramStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """TELEGRAM_API_BASE_URL for the bot: the token is appended to it."""
        return f"http://127.0.0.1:{self.port}/bot"

    # --- faults --------------------------------------------------------------------------

    def fail(self, status: int = 500, methods: Iterable[str] | None = None) -> None:
        """Answer every request (or those to `methods`) with `status` until heal()."""
        with self._lock:
            self._healed.clear()
            self._fault = _Fault("status", status, None if methods is None else frozenset(methods))

    def hang(self, methods: Iterable[str] | None = None) -> None:
        """Accept requests but never answer them until heal(), then drop the connection."""
        with self._lock:
            self._healed.clear()
            self._fault = _Fault("hang", methods=None if methods is None else frozenset(methods))

    def fail_next(
        self,
        count: int,
        status: int = 502,
        methods: Iterable[str] | None = None,
        *,
        after: int = 0,
    ) -> None:
        """Answer the next `count` requests (to `methods`) with `status`, then heal; with
        `after`, only once that many of them have gone through."""
        with self._lock:
            chosen = None if methods is None else frozenset(methods)
            self._fault = _Fault("status", status, chosen, remaining=count, after=after)

    def flood(
        self, count: int = 1, retry_after: int = 1, methods: Iterable[str] | None = None
    ) -> None:
        """Flood control: the next `count` requests (to `methods`) get 429 with `retry_after`;
        until that many seconds have passed after each, any request gets 429 again."""
        with self._lock:
            chosen = None if methods is None else frozenset(methods)
            self._fault = _Fault("flood", 429, chosen, remaining=count, retry_after=retry_after)

    def throttle(
        self,
        share: float,
        retry_after: int = 1,
        *,
        seed: int = 0,
        methods: Iterable[str] | None = None,
    ) -> None:
        """Answer a random `share` of requests (to `methods`) with 429 (seeded), for as long as
        it is set (share 0 turns it off). No waiting window: a load test of the retry path."""
        with self._lock:
            chosen = None if methods is None else frozenset(methods)
            self._throttle = (share, retry_after, random.Random(seed), chosen) if share else None

    def heal(self) -> None:
        with self._lock:
            self._fault = None
            self._flood_until = 0.0
            self._healed.set()
            self._lock.notify_all()

    # --- what users do -------------------------------------------------------------------

    def send_command(
        self, user_id: int, text: str, *, chat_id: int | None = None, username: str = ""
    ) -> int:
        """A user types `text` (e.g. "/state" or "/history 5"); returns the update id."""
        chat = user_id if chat_id is None else chat_id
        user = _user(user_id, username)
        with self._lock:
            message = self._new_message(chat, from_bot=False, sender_id=user_id)
            message.text = text
            payload = self._message_json(message, user)
            command = text.split(maxsplit=1)[0] if text.startswith("/") else ""
            if command:
                payload["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
                ]
            return self._push({"message": payload})

    def press(self, user_id: int, message: StoredMessage, label_contains: str) -> str:
        """A user presses the inline button whose label contains `label_contains`."""
        return self.press_data(user_id, message, message.button_data(label_contains))

    def press_data(
        self, user_id: int, message: StoredMessage, data: str, *, username: str = ""
    ) -> str:
        """A callback query with arbitrary data (what a forged or stale client could send)."""
        with self._lock:
            query_id = f"q{next(self._query_ids)}"
            current = self._state.messages.get((message.chat_id, message.message_id), message)
            query = {
                "id": query_id,
                "from": _user(user_id, username),
                "message": self._message_json(current, self.bot_user),
                "chat_instance": f"ci{message.chat_id}",
                "data": data,
            }
            self._state.callback_queries[query_id] = query
            self._push({"callback_query": query})
            return query_id

    def batch(self) -> AbstractContextManager[bool]:
        """Hold back getUpdates while several updates are queued, so one poll returns them all."""
        return self._lock

    # --- what the tests look at ----------------------------------------------------------

    def calls(self, method: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == method]

    def bot_messages(self, chat_id: int | None = None) -> list[StoredMessage]:
        with self._lock:
            return [
                m
                for m in self._state.messages.values()
                if m.from_bot and (chat_id is None or m.chat_id == chat_id)
            ]

    def message(self, chat_id: int, message_id: int) -> StoredMessage:
        with self._lock:
            return self._state.messages[(chat_id, message_id)]

    def answer(self, query_id: str) -> dict[str, str] | None:
        """How the bot answered a callback query (text, show_alert), if it did."""
        with self._lock:
            return self._state.answers.get(query_id)

    @property
    def commands(self) -> list[dict[str, str]]:
        with self._lock:
            return list(self._state.commands)

    @property
    def pending_updates(self) -> int:
        with self._lock:
            return len(self._state.updates)

    async def wait_for(
        self, predicate: Callable[[], T | None], *, timeout: float = 10.0, what: str = ""
    ) -> T:
        """Wait (without blocking the event loop) until predicate() is truthy; return it."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                recent = ", ".join(f"{r.method}:{r.outcome}" for r in self.requests[-15:])
                raise AssertionError(f"timed out waiting for {what or predicate!r}; {recent}")
            await asyncio.sleep(0.01)

    async def wait_for_message(
        self,
        contains: str,
        *,
        chat_id: int | None = None,
        after: int = 0,
        timeout: float = 10.0,
    ) -> StoredMessage:
        """The first bot message (with message_id > after) whose text contains `contains`."""

        def find() -> StoredMessage | None:
            for message in self.bot_messages(chat_id):
                if message.message_id > after and contains in (message.text + message.caption):
                    return message
            return None

        return await self.wait_for(find, timeout=timeout, what=f"a message with {contains!r}")

    async def wait_for_edit(
        self, message: StoredMessage, *, edits: int = 1, timeout: float = 10.0
    ) -> StoredMessage:
        """`message` once the bot has edited it `edits` times."""
        return await self.wait_for(
            lambda: message if message.edits >= edits else None,
            timeout=timeout,
            what=f"edit #{edits} of message {message.message_id}",
        )

    async def wait_for_answer(self, query_id: str, *, timeout: float = 10.0) -> dict[str, str]:
        return await self.wait_for(
            lambda: self.answer(query_id), timeout=timeout, what=f"answer to {query_id}"
        )

    def last_message_id(self, chat_id: int) -> int:
        with self._lock:
            return self._state.next_message_id.get(chat_id, 1) - 1

    # --- the server side -----------------------------------------------------------------

    def _push(self, body: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        self._state.updates.append({"update_id": update_id, **body})
        self._lock.notify_all()
        return update_id

    def _new_message(self, chat_id: int, *, from_bot: bool, sender_id: int) -> StoredMessage:
        message_id = self._state.next_message_id.get(chat_id, 1)
        self._state.next_message_id[chat_id] = message_id + 1
        message = StoredMessage(
            chat_id=chat_id,
            message_id=message_id,
            from_bot=from_bot,
            sender_id=sender_id,
            date=int(time.time()),
        )
        self._state.messages[(chat_id, message_id)] = message
        return message

    def _message_json(self, message: StoredMessage, sender: dict[str, Any]) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": message.chat_id, "type": "private", "first_name": "Op"}
        if message.chat_id < 0:
            chat = {"id": message.chat_id, "type": "supergroup", "title": "Ops"}
        out: dict[str, Any] = {
            "message_id": message.message_id,
            "from": sender,
            "chat": chat,
            "date": message.date,
        }
        if message.photo is not None:
            out["photo"] = [
                {
                    "file_id": f"photo{message.message_id}",
                    "file_unique_id": f"u{message.message_id}",
                    "width": 800,
                    "height": 400,
                    "file_size": len(message.photo),
                }
            ]
            if message.caption:
                out["caption"] = message.caption
        else:
            out["text"] = message.text
        # A Message carries only an inline keyboard (Bot API, Message.reply_markup); a reply
        # keyboard is shown to the user but never echoed back.
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            out["reply_markup"] = message.reply_markup
        if message.edits:
            out["edit_date"] = int(time.time())
        return out

    def handle(
        self, method: str, token: str, params: dict[str, str], files: dict[str, bytes]
    ) -> Any:
        """Dispatch one request; returns the `result`, or raises ApiError / _Hang."""
        refusal = self._refusal(method)
        if isinstance(refusal, _Hang):
            self._record(method, params, files, "hang")
            self._healed.wait()
            raise _Hang
        if refusal is not None:
            kind = "error" if refusal.code < 500 else "fault"
            self._record(method, params, files, f"{kind} {refusal.code}")
            raise refusal
        if token != self.token:
            self._record(method, params, files, "error 401")
            raise ApiError(401, "Unauthorized")
        handler = _METHODS.get(method.lower())
        if handler is None:
            self._record(method, params, files, "error 404")
            raise ApiError(404, "Not Found")
        if method.lower() == "getupdates":
            # Recorded before the long poll so tests see the poll while it waits.
            self._record(method, params, files, "ok")
            return handler(self, params, files)
        try:
            with self._lock:
                result = handler(self, params, files)
        except ApiError as exc:
            self._record(method, params, files, f"error {exc.code}")
            raise
        self._record(method, params, files, "ok")
        return result

    def _refusal(self, method: str) -> ApiError | _Hang | None:
        """The fault this request meets, if any (flood control first, as Telegram would)."""
        with self._lock:
            now = time.monotonic()
            if method.lower() != "getupdates" and now < self._flood_until:
                self.early_retries += 1
                return too_many_requests(max(1, math.ceil(self._flood_until - now)))
            throttle = self._throttle
            if throttle is not None and (throttle[3] is None or method in throttle[3]):
                share, retry_after, rng, _ = throttle
                if rng.random() < share:
                    return too_many_requests(retry_after)
            fault = self._fault
            if fault is None or not fault.applies(method):
                return None
            if fault.after > 0:
                fault.after -= 1
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._fault = None
            if fault.kind == "hang":
                return _Hang()
            if fault.kind == "flood":
                self._flood_until = now + fault.retry_after
                return too_many_requests(fault.retry_after)
            return ApiError(fault.status, _STATUS_TEXT.get(fault.status, "Internal Server Error"))

    def _record(
        self, method: str, params: dict[str, str], files: dict[str, bytes], outcome: str
    ) -> None:
        with self._lock:
            self.requests.append(Recorded(method, params, files, outcome, time.monotonic()))

    # --- Bot API methods (called with the lock held, except getUpdates) -------------------

    def _get_me(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        return self.bot_user

    def _delete_webhook(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        self._state.webhook_deleted += 1
        if _bool(params.get("drop_pending_updates")):
            self._state.updates.clear()
        return True

    def _get_webhook_info(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}

    def _get_updates(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        offset = _int(params, "offset", 0)
        limit = min(max(_int(params, "limit", 100), 1), 100)
        timeout = min(max(_int(params, "timeout", 0), 0), 50)
        deadline = time.monotonic() + timeout
        with self._lock:
            if offset < 0:
                # The documented negative offset: the last -offset updates; earlier ones are
                # forgotten.
                self._state.updates = self._state.updates[offset:]
            elif offset:
                self._state.updates = [u for u in self._state.updates if u["update_id"] >= offset]
            while not self._state.updates and not self._stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._fault is not None:
                    break
                self._lock.wait(remaining)
            return list(self._state.updates[:limit])

    def _send_message(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        chat_id = _int(params, "chat_id")
        raw = params.get("text", "")
        text = _visible(raw, params.get("parse_mode"), TEXT_LIMIT, "message is too long")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        message = self._new_message(chat_id, from_bot=True, sender_id=int(self.bot_user["id"]))
        message.text, message.html = text, raw
        message.reply_markup = _markup(params)
        message.silent = _bool(params.get("disable_notification"))
        return self._message_json(message, self.bot_user)

    def _send_photo(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        chat_id = _int(params, "chat_id")
        photo = next(iter(files.values()), None)
        if photo is None:
            raise ApiError(400, "Bad Request: there is no photo in the request")
        if not photo.startswith(PNG_MAGIC):
            raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
        caption = params.get("caption", "")
        shown = _visible(
            caption, params.get("parse_mode"), CAPTION_LIMIT, "message caption is too long"
        )
        message = self._new_message(chat_id, from_bot=True, sender_id=int(self.bot_user["id"]))
        message.photo, message.caption, message.html = photo, shown, caption
        message.reply_markup = _markup(params)
        return self._message_json(message, self.bot_user)

    def _edit_message_text(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        message = self._editable(params)
        raw = params.get("text", "")
        text = _visible(raw, params.get("parse_mode"), TEXT_LIMIT, "MESSAGE_TOO_LONG")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        markup = _markup(params)
        if text == message.text and markup == message.reply_markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        message.text, message.html, message.reply_markup = text, raw, markup
        message.edits += 1
        return self._message_json(message, self.bot_user)

    def _edit_message_reply_markup(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        message = self._editable(params)
        markup = _markup(params)
        if markup == message.reply_markup:
            raise ApiError(400, "Bad Request: message is not modified")
        message.reply_markup = markup
        message.edits += 1
        return self._message_json(message, self.bot_user)

    def _answer_callback_query(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        query_id = params.get("callback_query_id", "")
        if query_id not in self._state.callback_queries:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired")
        if query_id in self._state.answers:
            raise ApiError(400, "Bad Request: query ID is invalid")
        text = params.get("text", "")
        if utf16_len(text) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._state.answers[query_id] = {
            "text": text,
            "show_alert": "true" if _bool(params.get("show_alert")) else "false",
        }
        return True

    def _set_my_commands(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        commands = json.loads(params.get("commands", "[]"))
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be a list of at most 100")
        for command in commands:
            name, description = command.get("command", ""), command.get("description", "")
            if not _COMMAND_NAME.fullmatch(name):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self._state.commands = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _get_my_commands(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        return list(self._state.commands)

    def _editable(self, params: dict[str, str]) -> StoredMessage:
        key = (_int(params, "chat_id"), _int(params, "message_id"))
        message = self._state.messages.get(key)
        if message is None or not message.from_bot:
            raise ApiError(400, "Bad Request: message to edit not found")
        return message


_METHODS: dict[str, Callable[[TelegramStandIn, dict[str, str], dict[str, bytes]], Any]] = {
    "getme": TelegramStandIn._get_me,
    "deletewebhook": TelegramStandIn._delete_webhook,
    "getwebhookinfo": TelegramStandIn._get_webhook_info,
    "getupdates": TelegramStandIn._get_updates,
    "sendmessage": TelegramStandIn._send_message,
    "sendphoto": TelegramStandIn._send_photo,
    "editmessagetext": TelegramStandIn._edit_message_text,
    "editmessagereplymarkup": TelegramStandIn._edit_message_reply_markup,
    "answercallbackquery": TelegramStandIn._answer_callback_query,
    "setmycommands": TelegramStandIn._set_my_commands,
    "getmycommands": TelegramStandIn._get_my_commands,
}


class _Hang(Exception):
    """The request was held until heal(); the connection is dropped without an answer."""


def _user(user_id: int, username: str = "") -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
    if username:
        user["username"] = username
    return user


def _int(params: dict[str, str], name: str, default: int | None = None) -> int:
    value = params.get(name)
    if value is None or value == "":
        if default is None:
            raise ApiError(400, f"Bad Request: {name} is empty")
        return default
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, f"Bad Request: invalid {name}") from None


def _bool(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1")


def _visible(raw: str, parse_mode: str | None, limit: int, too_long: str) -> str:
    text = parse_telegram_html(raw) if (parse_mode or "").upper() == "HTML" else raw
    if utf16_len(text) > limit:
        raise ApiError(400, f"Bad Request: {too_long}")
    return text


def _markup(params: dict[str, str]) -> dict[str, Any] | None:
    raw = params.get("reply_markup")
    if not raw:
        return None
    markup = json.loads(raw)
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup or None


class _Handler(BaseHTTPRequestHandler):
    owner: TelegramStandIn
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK add ~40 ms to every response.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return

    def _serve(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", url.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if match is None:
            self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        try:
            params, files = _parse_body(self.headers.get("Content-Type", ""), body, url.query)
            result = self.owner.handle(match[2], match[1], params, files)
        except _Hang:
            self.close_connection = True
            return
        except ApiError as exc:
            self._reply(exc.code, exc.payload())
            return
        self._reply(200, {"ok": True, "result": result})

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _parse_body(
    content_type: str, body: bytes, query: str
) -> tuple[dict[str, str], dict[str, bytes]]:
    params = {k: v[-1] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}
    files: dict[str, bytes] = {}
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        form = urllib.parse.parse_qs(body.decode(), keep_blank_values=True)
        params.update({k: v[-1] for k, v in form.items()})
    elif kind == "application/json" and body:
        decoded = json.loads(body)
        if not isinstance(decoded, dict):
            raise ApiError(400, "Bad Request: expected a JSON object")
        params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in decoded.items()})
    elif kind == "multipart/form-data":
        head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if not isinstance(name, str) or not isinstance(payload, bytes):
                continue
            if part.get_filename() is not None:
                files[name] = payload
            else:
                params[name] = payload.decode()
    return params, files
