"""The one Store: every record kind's methods over one shared connection."""

from __future__ import annotations

from director.store.actions import ActionsMixin
from director.store.cycles import CyclesMixin
from director.store.flags import FlagsMixin
from director.store.intents import IntentsMixin
from director.store.reviews import ReviewsMixin
from director.store.rules import RulesMixin
from director.store.usage import UsageMixin


class Store(
    CyclesMixin,
    ActionsMixin,
    RulesMixin,
    ReviewsMixin,
    FlagsMixin,
    UsageMixin,
    IntentsMixin,
):
    """The record. Open it with `await Store.open(path)`; share it freely (statements and
    transactions take turns on its one connection)."""
