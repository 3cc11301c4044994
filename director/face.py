"""The engine's vocabulary for its faces (the Telegram bot): what they may name, in one import.

A face talks to the engine through the Director's methods and `Director.queries`; the types
those take and return are re-exported here, so no face imports the store or the director's
internals.
"""

from __future__ import annotations

from director.cards import ApprovalCard
from director.director import CycleInProgress, PanicResult
from director.pnl import PeriodPnl, PositionView
from director.queries import ApprovalRecord, CycleRecord, LimitsView, Queries, ReviewRecord
from director.store.records import ActionStatus, ApprovalStatus, ReviewStatus
from director.submit import Submission, SubmissionError, SubmissionStatus
from director.why import Answer, StoryLine

__all__ = [
    "ActionStatus",
    "Answer",
    "ApprovalCard",
    "ApprovalRecord",
    "ApprovalStatus",
    "CycleInProgress",
    "CycleRecord",
    "LimitsView",
    "PanicResult",
    "PeriodPnl",
    "PositionView",
    "Queries",
    "ReviewRecord",
    "ReviewStatus",
    "StoryLine",
    "Submission",
    "SubmissionError",
    "SubmissionStatus",
]
