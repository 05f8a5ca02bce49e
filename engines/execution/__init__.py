"""The execution engine: approved orders to the venue simulator, fills out."""

from engines.execution._orders import (
    DECISION_READ,
    FillRow,
    OrderManager,
    VenueParams,
    fill_records,
)
from engines.execution.engine import ExecutionEngine, ExecutionParams

__all__ = ["DECISION_READ", "ExecutionEngine", "ExecutionParams", "FillRow", "OrderManager",
           "VenueParams", "fill_records"]
