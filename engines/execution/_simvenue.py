"""The simulated venue behind the Venue interface (engines.venue): the order manager's book
matched against the latest touch, with its latency model (`latency_us` before an order can
trade, `max_fill_fraction` of the displayed size per match).

In process, so its session is UP unless halted (`halt()`: a test's or an operator's stand-in
for a dropped session; new orders are then rejected REASON_VENUE_DOWN, nothing is sent), and
recovery has nothing to resend. The execution engine keeps one fast path past this object
for the commonest order (OrderManager.trade_now); everything else comes through here.
"""

from __future__ import annotations

from engines.execution._amends import AMEND_READ
from engines.execution._orders import OrderManager, Quote
from engines.venue import Row, SessionState
from shm.layout import AMEND_CANCEL, AMEND_REPLACE, FILL_REJECTED, REASON_VENUE_DOWN


class SimulatedVenue:
    """A Venue over one OrderManager and the quotes dict the engine keeps current."""

    def __init__(self, name: str, om: OrderManager, quotes: dict[int, Quote]) -> None:
        self.name, self.om, self.quotes = name, om, quotes
        self.state = SessionState.UP

    def session_state(self) -> SessionState:
        return self.state

    def halt(self, halted: bool = True) -> None:
        self.state = SessionState.DOWN if halted else SessionState.UP

    def send_new(self, decision: Row, now_ns: int, out: list[Row]) -> None:
        if self.state is not SessionState.UP:
            self.om.report(decision, FILL_REJECTED, REASON_VENUE_DOWN, now_ns, out)
            return
        self.om.on_decision(decision, now_ns, out)

    def send_cancel(self, amend: Row, now_ns: int, out: list[Row]) -> None:
        self._amend(amend, AMEND_CANCEL, now_ns, out)

    def send_replace(self, amend: Row, now_ns: int, out: list[Row]) -> None:
        self._amend(amend, AMEND_REPLACE, now_ns, out)

    def _amend(self, amend: Row, action: int, now_ns: int, out: list[Row]) -> None:
        # An amend row whose action is not the one asked for is refused by on_amend itself
        # (REASON_INVALID): the action travels in the row.
        if amend[AMEND_READ.action] != action:
            raise ValueError(f"amend {amend[AMEND_READ.amend_id]:#x}: action "
                             f"{amend[AMEND_READ.action]} sent as {action}")
        self.om.amends.on_amend(amend, now_ns, out)

    def send_amend(self, amend: Row, now_ns: int, out: list[Row]) -> None:
        """send_cancel or send_replace by the row's action (anything else is refused)."""
        self.om.amends.on_amend(amend, now_ns, out)

    def poll(self, now_ns: int, out: list[Row]) -> None:
        if self.om.pending or self.om.resting:
            self.om.match(now_ns, self.quotes, out)

    def recover(self, now_ns: int, out: list[Row]) -> None:
        """Nothing was in flight outside this process: the book is the venue's."""
        self.state = SessionState.UP

    def next_wakeup_s(self, now_ns: int) -> float | None:
        if self.om.resting:
            return 0.001  # resting orders trade on new ticks, which do not wake execution
        return self.om.next_due_s(now_ns)
