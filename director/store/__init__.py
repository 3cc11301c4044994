"""The record: cycles, actions, approvals, rules versions, reviews, operator flags, LLM usage
and order intents, in one SQLite database behind one Store.

connection.py opens it and runs the migrations (migrations.py); each other module holds one
record kind; records.py has the records and their status enums; facade.py puts them together.
"""

from director.store.connection import StoreError, check_sqlite_file, iso, parse_ts
from director.store.facade import Store
from director.store.flags import FlagKey
from director.store.records import (
    ActionRecord,
    ActionStatus,
    ActionVerdict,
    ApprovalRecord,
    ApprovalStatus,
    CycleRecord,
    CycleStatus,
    ReviewRecord,
    ReviewStatus,
)

__all__ = [
    "ActionRecord",
    "ActionStatus",
    "ActionVerdict",
    "ApprovalRecord",
    "ApprovalStatus",
    "CycleRecord",
    "CycleStatus",
    "FlagKey",
    "ReviewRecord",
    "ReviewStatus",
    "Store",
    "StoreError",
    "check_sqlite_file",
    "iso",
    "parse_ts",
]
