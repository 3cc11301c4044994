"""The one send path: HTML-safe splitting, and never raising while Telegram is down."""

from __future__ import annotations

import html
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import RetryAfter
from telegram.request import HTTPXRequest

from bot.retry import RetryPolicy, retry_after_seconds
from bot.send import MESSAGE_LIMIT, Sender, html_to_plain, split_html, truncate_html, utf16_units
from tests.telegram_standin import (
    PNG_MAGIC,
    ApiError,
    TelegramStandIn,
    parse_telegram_html,
    utf16_len,
)

CHAT = 1001
QUICK = RetryPolicy(attempts=3, first_backoff_seconds=0.01, deadline_seconds=5.0)
KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("✅ Approve", callback_data="ap:1:y")]])

# --- split_html ----------------------------------------------------------------------------

_words = st.text(
    alphabet=st.sampled_from([*"abcxyz <>&\"'\n  ", "é", "😀", "𝄞"]),
    min_size=0,
    max_size=60,
).map(html.escape)


def _wrap(children: list[str], tag: str) -> str:
    opening = '<a href="https://example.com/x?a=1&amp;b=2">' if tag == "a" else f"<{tag}>"
    return f"{opening}{''.join(children)}</{tag.split()[0]}>"


_tags = st.sampled_from(["b", "i", "code", "a"])
# Blockquotes can't be nested (Bot API, formatting options): only at the top, as we write them.
_quotes = st.sampled_from(["blockquote", "blockquote expandable"])


def _nested(inner: st.SearchStrategy[str], tags: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(_wrap, st.lists(inner, max_size=4), tags)


# Telegram HTML nested at most three deep, as the renderer writes it.
_html = _words
for _ in range(2):
    _html = st.one_of(_words, _nested(_html, _tags))
_html = st.one_of(_html, _nested(_html, _quotes))
_documents = st.lists(_html, min_size=1, max_size=20).map("".join)


@settings(max_examples=200, deadline=None)
@given(_documents, st.integers(min_value=250, max_value=600))
def test_split_chunks_fit_parse_on_their_own_and_lose_nothing(text: str, limit: int) -> None:
    chunks = split_html(text, limit)
    for chunk in chunks:
        assert utf16_units(chunk) <= limit
        parse_telegram_html(chunk)  # raises if Telegram would refuse it
    assert "".join(parse_telegram_html(c) for c in chunks) == parse_telegram_html(text)


def test_split_prefers_newlines_then_spaces_in_the_second_half() -> None:
    lines = "\n".join(f"line {i:03} " + "word " * 10 for i in range(200))
    chunks = split_html(lines, 1000)
    assert all(c.endswith("\n") for c in chunks[:-1])
    assert all(len(c) > 500 for c in chunks[:-1])
    one_line = "word " * 1000
    chunks = split_html(one_line, 1000)
    assert all(c.endswith(" ") for c in chunks[:-1])
    assert "".join(chunks) == one_line


def test_split_never_cuts_an_entity_or_a_tag_and_reopens_tags() -> None:
    text = "<b>" + "&amp;" * 500 + "</b>"
    chunks = split_html(text, 100)
    for chunk in chunks:
        assert chunk.startswith("<b>") and chunk.endswith("</b>")
        assert parse_telegram_html(chunk) == "&" * ((len(chunk) - 7) // 5)
    assert sum(c.count("&amp;") for c in chunks) == 500


def test_split_short_text_is_untouched() -> None:
    assert split_html("<b>hi</b>") == ["<b>hi</b>"]
    assert split_html("") == []
    assert split_html("x" * MESSAGE_LIMIT) == ["x" * MESSAGE_LIMIT]
    assert len(split_html("x" * (MESSAGE_LIMIT + 1))) == 2


def test_split_counts_utf16_units_like_telegram() -> None:
    clef = "𝄞"  # two UTF-16 units
    chunks = split_html(clef * 100, 51)
    assert all(utf16_units(c) <= 51 for c in chunks)
    assert "".join(chunks) == clef * 100


def test_a_tag_too_long_to_fit_is_an_error_not_a_broken_message() -> None:
    with pytest.raises(ValueError, match="cannot fit"):
        split_html(f'<a href="{"x" * 300}">link</a>' + "y" * 200, 100)


def test_truncate_marks_the_cut() -> None:
    assert truncate_html("short", 100) == "short"
    cut = truncate_html("<i>" + "word " * 100 + "</i>", 100)
    assert cut.endswith("</i>…") and utf16_units(cut) <= 100
    parse_telegram_html(cut)


def test_html_to_plain() -> None:
    assert html_to_plain("<b>a &lt;b&gt;</b> &amp; c") == "a <b> & c"


# --- Sender against the stand-in -----------------------------------------------------------


@pytest.fixture
async def sender(tg: TelegramStandIn) -> AsyncIterator[Sender]:
    request = HTTPXRequest(connect_timeout=0.5, read_timeout=0.5, write_timeout=0.5)
    bot = Bot(tg.token, base_url=tg.base_url, request=request)
    async with bot:
        yield Sender(bot, policy=QUICK, brief=QUICK)


async def test_long_text_goes_in_parts_with_the_keyboard_on_the_last(
    tg: TelegramStandIn, sender: Sender
) -> None:
    text = "<b>Report</b>\n" + "\n".join(f"{i:04} {html.escape('<&>')} " * 8 for i in range(300))
    sent = await sender.send_html(CHAT, text, reply_markup=KEYBOARD)
    assert len(sent) >= 3
    stored = tg.bot_messages(CHAT)
    assert [m.message_id for m in stored] == [m.message_id for m in sent]
    assert all(utf16_len(m.text) <= 4096 for m in stored)
    assert [m.buttons() for m in stored[:-1]] == [[] for _ in stored[:-1]]
    assert stored[-1].buttons() == [("✅ Approve", "ap:1:y")]
    assert "".join(m.text for m in stored) == parse_telegram_html(text)


async def test_a_keyboard_whose_part_was_lost_is_not_delivered(
    tg: TelegramStandIn, sender: Sender
) -> None:
    text = "<b>Approval</b>\n" + "\n".join(f"line {i:04} " * 8 for i in range(100))
    # The first part goes through; the last one, with the buttons, fails every retry.
    tg.fail_next(QUICK.attempts, 500, methods=["sendMessage"], after=1)
    assert await sender.send_whole_html(CHAT, text, reply_markup=KEYBOARD) is None
    [first] = tg.bot_messages(CHAT)
    assert first.buttons() == []
    whole = await sender.send_whole_html(CHAT, text, reply_markup=KEYBOARD)
    assert whole is not None and whole.message_id == tg.bot_messages(CHAT)[-1].message_id
    assert tg.bot_messages(CHAT)[-1].buttons() == [("✅ Approve", "ap:1:y")]


async def test_sending_while_telegram_fails_returns_nothing_and_logs(
    tg: TelegramStandIn, sender: Sender, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.send")
    tg.fail(500)
    assert await sender.send_html(CHAT, "x" * 9000) == []
    # The first part tried as often as the policy says; the remaining parts are not tried.
    assert len(tg.calls("sendMessage")) == QUICK.attempts
    assert not await sender.edit_html(CHAT, 1, "y")
    assert not await sender.answer("q1", "hi")
    assert not await sender.send_png(CHAT, PNG_MAGIC + b"0", "cap")
    messages = [r.getMessage() for r in caplog.records]
    assert any("could not send a message to 1001 (Telegram unreachable" in m for m in messages)
    assert any("gave up on 2 more part(s)" in m for m in messages)
    assert tg.token not in caplog.text


async def test_sending_while_telegram_hangs_times_out_and_returns(
    tg: TelegramStandIn, sender: Sender
) -> None:
    tg.hang()
    assert await sender.send_html(CHAT, "hello") == []
    tg.heal()
    assert len(await sender.send_html(CHAT, "hello again")) == 1


async def test_html_telegram_refuses_is_resent_as_plain_text(
    tg: TelegramStandIn, sender: Sender, caplog: pytest.LogCaptureFixture
) -> None:
    sent = await sender.send_html(CHAT, "a <b>bold & broken")
    assert len(sent) == 1
    assert tg.bot_messages(CHAT)[0].text == "a bold & broken"
    assert "could not parse our HTML" in caplog.text


async def test_edits_replace_text_and_keyboard(tg: TelegramStandIn, sender: Sender) -> None:
    (message,) = await sender.send_html(CHAT, "<b>pending</b>", reply_markup=KEYBOARD)
    assert await sender.edit_html(CHAT, message.message_id, "<b>done</b>")
    stored = tg.message(CHAT, message.message_id)
    assert (stored.text, stored.buttons()) == ("done", [])
    assert await sender.edit_html(CHAT, message.message_id, "<b>done</b>")  # not modified: fine
    assert not await sender.edit_html(CHAT, 999, "gone")
    long_edit = "word " * 2000
    assert await sender.edit_html(CHAT, message.message_id, long_edit)
    assert tg.message(CHAT, message.message_id).text.endswith("…")


async def test_a_long_caption_follows_the_picture_as_a_message(
    tg: TelegramStandIn, sender: Sender
) -> None:
    png = PNG_MAGIC + b"\x00" * 64
    assert await sender.send_png(CHAT, png, "<b>short</b>")
    assert tg.bot_messages(CHAT)[-1].caption == "short"
    assert await sender.send_png(CHAT, png, "long " * 400)
    photo, text = tg.bot_messages(CHAT)[-2:]
    assert photo.photo == png and photo.caption == ""
    assert text.text.startswith("long long")


async def test_answers_are_cut_to_telegrams_limit(tg: TelegramStandIn, sender: Sender) -> None:
    (message,) = await sender.send_html(CHAT, "x", reply_markup=KEYBOARD)
    query = tg.press(CHAT, tg.message(CHAT, message.message_id), "Approve")
    assert await sender.answer(query, "y" * 500, alert=True)
    answer = tg.answer(query)
    assert answer is not None and len(answer["text"]) == 200 and answer["show_alert"] == "true"


# --- retries: flood control and 5xx blips ----------------------------------------------------


async def test_a_429_is_retried_after_the_retry_after_telegram_asked_for(
    tg: TelegramStandIn, sender: Sender, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.retry")
    tg.flood(count=1, retry_after=1)
    sent = await sender.send_html(CHAT, "approval request")
    assert [m.text for m in sent] == ["approval request"]
    assert [r.outcome for r in tg.calls("sendMessage")] == ["error 429", "ok"]
    assert tg.early_retries == 0  # it waited the second Telegram asked for
    retries = [r.getMessage() for r in caplog.records if "retry 1" in r.getMessage()]
    assert len(retries) == 1 and "RetryAfter" in retries[0]
    assert not any(r.exc_info for r in caplog.records)


async def test_a_502_blip_is_retried_with_backoff_and_nothing_is_lost(
    tg: TelegramStandIn, sender: Sender
) -> None:
    tg.fail_next(2, 502, methods=["sendMessage"])
    assert len(await sender.send_html(CHAT, "cycle report")) == 1
    assert [r.outcome for r in tg.calls("sendMessage")] == ["fault 502", "fault 502", "ok"]
    tg.fail_next(1, 503, methods=["editMessageText"])
    assert await sender.edit_html(CHAT, 1, "edited")
    assert tg.message(CHAT, 1).text == "edited"


async def test_a_bad_request_is_not_retried(tg: TelegramStandIn, sender: Sender) -> None:
    assert not await sender.edit_html(CHAT, 999, "no such message")
    assert [r.outcome for r in tg.calls("editMessageText")] == ["error 400"]


async def test_quiet_messages_carry_disable_notification(
    tg: TelegramStandIn, sender: Sender
) -> None:
    await sender.send_html(CHAT, "routine", quiet=True)
    await sender.send_html(CHAT, "loud")
    assert [(m.text, m.silent) for m in tg.bot_messages(CHAT)] == [
        ("routine", True),
        ("loud", False),
    ]


def test_the_retry_after_is_read_whatever_form_ptb_gives_it() -> None:
    assert retry_after_seconds(RetryAfter(3)) == 3.0
    assert retry_after_seconds(RetryAfter(timedelta(seconds=2.5))) == 2.5


async def test_expandable_blockquotes_parse_and_other_attributes_are_refused() -> None:
    assert parse_telegram_html("<blockquote expandable>long</blockquote>") == "long"
    with pytest.raises(ApiError, match="Unsupported attribute"):
        parse_telegram_html('<b class="x">bold</b>')
    with pytest.raises(ApiError, match="can't be nested"):
        parse_telegram_html("<blockquote>a<blockquote>b</blockquote></blockquote>")
