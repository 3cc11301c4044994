"""Confirmation prompts: /panic, /rules rollback, and on a real exchange the switches that make
the bot more dangerous (/autonomy auto, /safemode off, /resume).

A prompt is decided once. The first press (Confirm or Cancel) is what happened; any later
press, a double tap or the other button, is told that outcome and the message is set to it
again, so a message never states the opposite of what was done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from telegram import CallbackQuery

from bot.keyboards import ConfirmPress, Dangerous, PanicPress, RollbackPress, fresh
from bot.port import DirectorPort
from bot.render import esc
from bot.render_cockpit import render_panic_result
from bot.render_review import render_rollback_done
from bot.send import Sender
from director.clock import Clock
from director.models import Autonomy

log = logging.getLogger(__name__)

MAX_REMEMBERED = 1000
Outcome = tuple[str, str]  # (the answer toast, the message's new text)


class PromptLedger:
    """The outcome of every prompt decided in this run, by message; one decision at a time per
    message, so two simultaneous taps can't both act."""

    def __init__(self) -> None:
        self._outcomes: dict[tuple[int, int], Outcome] = {}
        self._locks: dict[tuple[int, int], asyncio.Lock] = {}

    def decided(self, key: tuple[int, int]) -> bool:
        return key in self._outcomes

    async def decide(self, key: tuple[int, int], act: Callable[[], Awaitable[Outcome]]) -> Outcome:
        """The outcome for this message: the recorded one, or `act()`'s, recorded."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            prior = self._outcomes.get(key)
            if prior is not None:
                return f"Already decided: {prior[0]}", prior[1]
            outcome = await act()
            if len(self._outcomes) >= MAX_REMEMBERED:  # prompts go stale in minutes anyway
                oldest = next(iter(self._outcomes))
                self._outcomes.pop(oldest)
                self._locks.pop(oldest, None)
            self._outcomes[key] = outcome
            return outcome


class Prompts:
    def __init__(self, director: DirectorPort, sender: Sender, *, clock: Clock) -> None:
        self._director = director
        self._sender = sender
        self._clock = clock
        self.ledger = PromptLedger()

    async def _settle(
        self, query: CallbackQuery, act: Callable[[], Awaitable[Outcome]], *, alert: bool = False
    ) -> None:
        message = query.message
        if message is None:
            toast, _ = await act()
            await self._sender.answer(query.id, toast, alert=alert)
            return
        key = (message.chat.id, message.message_id)
        toast, text = await self.ledger.decide(key, act)
        await self._sender.answer(query.id, toast, alert=alert or toast.startswith("Already"))
        await self._sender.edit_html(*key, text)

    async def _stale(self, query: CallbackQuery, issued_at: int, kind: str, again: str) -> bool:
        if fresh(issued_at, self._clock()):
            return False
        await self._sender.answer(
            query.id, f"This {kind} button is stale: send {again} again.", alert=True
        )
        return True

    # --- /panic ----------------------------------------------------------------------------

    async def panic(self, query: CallbackQuery, who: str, press: PanicPress) -> None:
        if not press.confirm:
            canceled = f"Panic canceled by {esc(who)}."
            await self._settle(query, _fixed(("Panic canceled.", canceled)))
            return
        if await self._stale(query, press.issued_at, "panic", "/panic"):
            return

        async def act() -> Outcome:
            log.warning("PANIC by %s", who)
            try:
                result = await self._director.panic(who)
            except Exception as exc:
                log.exception("panic failed")
                failed = f"Panic FAILED ({type(exc).__name__}); check /state now."
                return failed, f"🛑 <b>{esc(failed)}</b>"
            summary = f"Safe mode ON; canceled {len(result.canceled)} order(s)"
            if result.failed:
                summary += f"; {len(result.failed)} cancel(s) FAILED"
            return summary + ".", render_panic_result(result, who)

        await self._settle(query, act)

    # --- /rules rollback -------------------------------------------------------------------

    async def rollback(self, query: CallbackQuery, who: str, press: RollbackPress) -> None:
        version = press.version
        if not press.confirm:
            text = f"↩️ Rollback to v{version} canceled by {esc(who)}; the rules are unchanged."
            await self._settle(query, _fixed(("Rollback canceled.", text)))
            return
        if await self._stale(query, press.issued_at, "rollback", f"/rules rollback {version}"):
            return
        queries = self._director.queries
        # Refusals (changed rules, already equal) decide nothing: the prompt stays pressable.
        refusal = await queries.rollback_refusal(version, press.from_version)
        if refusal is not None and not self._decided(query):
            await self._sender.answer(query.id, refusal, alert=True)
            return

        async def act() -> Outcome:
            log.warning("rules rollback to v%d by %s", version, who)
            try:
                new = await queries.rollback(version, press.from_version, who)
            except Exception as exc:
                log.exception("rollback to v%d failed", version)
                failed = f"Rollback FAILED ({type(exc).__name__}); nothing changed. Check /rules."
                return failed, f"↩️ {esc(failed)}"
            if isinstance(new, str):
                return new, f"↩️ Not rolled back: {esc(new)}"
            toast = f"Rules v{new.version} (a copy of v{version}) active from the next cycle."
            return toast, render_rollback_done(new, version, who)

        await self._settle(query, act)

    def _decided(self, query: CallbackQuery) -> bool:
        message = query.message
        return message is not None and self.ledger.decided((message.chat.id, message.message_id))

    # --- dangerous switches on a real exchange ---------------------------------------------

    async def confirm(self, query: CallbackQuery, who: str, press: ConfirmPress) -> None:
        what = press.what
        if not press.confirm:
            text = f"Canceled by {esc(who)}: {_WHAT[what]} not done; nothing changed."
            await self._settle(query, _fixed(("Canceled.", text)))
            return
        if await self._stale(query, press.issued_at, "confirm", _COMMAND[what]):
            return

        async def act() -> Outcome:
            d = self._director
            log.warning("%s confirmed by %s", _WHAT[what], who)
            try:
                if what == "auto":
                    await d.set_autonomy(Autonomy.AUTO, who)
                elif what == "safeoff":
                    await d.set_safe_mode(False, who)
                else:
                    await d.set_paused(False, who)
            except Exception:
                log.exception("%s failed", _WHAT[what])
                failed = f"{_WHAT[what].capitalize()}: FAILED, nothing changed; check /state."
                return failed, f"⚠️ {esc(failed)}"
            done = f"{_WHAT[what].capitalize()}: done (by {who})."
            return done, f"⚠️ {esc(done)}"

        await self._settle(query, act)


_WHAT: dict[Dangerous, str] = {
    "auto": "autonomy auto",
    "safeoff": "safe mode off",
    "resume": "resume scheduled cycles",
}
_COMMAND: dict[Dangerous, str] = {
    "auto": "/autonomy auto",
    "safeoff": "/safemode off",
    "resume": "/resume",
}


def _fixed(outcome: Outcome) -> Callable[[], Awaitable[Outcome]]:
    async def act() -> Outcome:
        return outcome

    return act
