"""The one place the periodic review is wired: /review and the scheduled review job call this.

The review (director/review.py, `run_review_text(director) -> str`, the same entry point the
CLI's `omega-director review` looks for) is a separate feature. Until it lands, both say so
plainly instead of pretending to have reviewed anything.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from bot.port import DirectorPort
from bot.render import esc

log = logging.getLogger(__name__)

REVIEW_MODULE = "director.review"
REVIEW_PENDING = (
    "🔬 The periodic review is not built yet: it arrives with the review feature. "
    "Nothing was reviewed."
)


def _review_entry() -> Any:
    try:
        module = importlib.import_module(REVIEW_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != REVIEW_MODULE:
            raise  # the review exists but something it imports is missing: a real error
        return None
    entry = getattr(module, "run_review_text", None)
    if entry is None:
        log.warning("%s has no run_review_text(director); the review is not wired", REVIEW_MODULE)
    return entry


async def run_review(director: DirectorPort) -> str:
    """The review's result as Telegram HTML."""
    entry = _review_entry()
    if entry is None:
        return REVIEW_PENDING
    text = await entry(director)
    return f"🔬 <b>Review</b>\n{esc(text)}"
