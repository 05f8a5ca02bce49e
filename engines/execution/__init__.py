"""The execution engine: approved orders to a venue (the simulated one by default), reports
out; and what other venue gateways and the backtest share with it: the codecs of decisions,
amendments and reports (DECISION_READ, AMEND_READ, FILL_WRITTEN rows), the order manager,
the order lifecycle table, and the operators' surface (`operator`: orders, cancel, replace
as service methods, the operator amend id range)."""

from engines.execution import _operator as operator
from engines.execution._amends import AMEND_READ
from engines.execution._lifecycle import (
    ORDER_TRANSITIONS,
    InvalidOrderTransition,
    OrderEvent,
    OrderState,
)
from engines.execution._oms import OrderBook, OrderQuantityError, UnknownOrder
from engines.execution._orders import (
    DECISION_READ,
    FILL_WRITTEN,
    FillRow,
    OrderManager,
    VenueParams,
    fill_records,
)
from engines.execution.engine import ExecutionEngine, ExecutionParams

__all__ = ["AMEND_READ", "DECISION_READ", "FILL_WRITTEN", "ORDER_TRANSITIONS",
           "ExecutionEngine", "ExecutionParams", "FillRow", "InvalidOrderTransition",
           "OrderBook", "OrderEvent", "OrderManager", "OrderQuantityError", "OrderState",
           "UnknownOrder", "VenueParams", "fill_records", "operator"]
