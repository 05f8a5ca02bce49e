"""The journal: every order, decision and fill (and the kill switch's changes) appended to
segmented, checksummed files in the state directory; `engines.journal:JournalEngine`."""

from engines.journal._replay import (
    KIND_DECISION,
    KIND_FILL,
    KIND_ORDER,
    filled_by_symbol,
    has_journal,
    journal_records,
)
from engines.journal._routes import ChildRoute, ParentRoute, routes
from engines.journal._segments import Fsync, SegmentWriter, read_all
from engines.journal.engine import KIND_ACTION, JournalEngine

__all__ = ["KIND_ACTION", "KIND_DECISION", "KIND_FILL", "KIND_ORDER", "ChildRoute", "Fsync",
           "JournalEngine", "ParentRoute", "SegmentWriter", "filled_by_symbol", "has_journal",
           "journal_records", "read_all", "routes"]
