"""Smart order routing: a parent order sent as child orders to several venues, ranked by the
price after fees at each venue's touch and split by the size each one displays; a child a
venue refuses goes to the next venue (never twice to one venue), and the children's reports
are folded into the parent's, which is all strategy, risk and positions ever see.

Venues are simulated (in process) or a gateway engine over a pair of rings (the FIX
gateway: engines.execution._ringvenue); only those whose session is UP are candidates. An
IOC parent is split across the venues displaying size until it is covered; what no venue
shows is not sent, and whatever is left when its last child is over is reported
FILL_EXPIRED (explicit, never lost). A FOK parent, and a resting one (DAY, GTC), goes whole
to one venue (the best; FOK: the best that shows it all); a resting one's cancels and
replaces go to the simulated venue holding it (to a gateway: refused). On the fills ring
every routed report carries the venue (venue_id, 1 + its index in `route`) and the child
number; a FILL_ROUTED record opens each child and a FILL_CHILD_REJECTED one closes a
refused child, so the journal holds each parent with its children (engines.journal.routes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from engines.execution._amends import AMEND_READ
from engines.execution._fees import better_first_key
from engines.execution._orders import (
    DECISION_READ,
    FILL_WRITTEN,
    FillRow,
    OrderManager,
    Quote,
)
from engines.execution._ringvenue import RingVenue
from engines.execution._routedvenues import RoutedVenue
from engines.records import TOUCH_F, Fields
from engines.venue import SessionState
from shm.layout import (
    FILL,
    FILL_ACCEPTED,
    FILL_CANCELLED,
    FILL_CHILD_REJECTED,
    FILL_EXPIRED,
    FILL_FILLED,
    FILL_PARTIAL,
    FILL_REJECTED,
    FILL_REPLACED,
    FILL_ROUTED,
    LIQUIDITY_TAKER,
    REASON_OK,
    REASON_UNKNOWN_ORDER,
    REASON_VENUE,
    REASON_VENUE_DOWN,
    TIF_FOK,
    TIF_IOC,
    TYPE_MARKET,
)

# A routed report: FILL_WRITTEN's fields plus the venue and the child number.
ROUTED_WRITTEN = Fields(FILL, (
    "order_id", "exec_id", "strategy_id", "symbol_id", "side", "liquidity", "status",
    "venue_id", "reason", "child", "qty", "price", "leaves_qty", "ts_ns", "origin_seq",
    "origin_ts_ns", "order_ts_ns", "decided_ts_ns"))
D, W = DECISION_READ, FILL_WRITTEN
Candidate = tuple[int, float, int, float]  # venue_id, touch price, displayed size, fee/share
Plan = list[tuple[int, int, float]]  # (venue_id, child quantity, touch price), best first
_UP = SessionState.UP
REROUTABLE = frozenset({REASON_VENUE, REASON_VENUE_DOWN})  # a venue's refusals, not the order's


def widen(row: FillRow, venue_id: int = 0, child: int = 0) -> FillRow:
    """A FILL_WRITTEN tuple as a ROUTED_WRITTEN one."""
    return (*row[:7], venue_id, row[7], child, *row[8:])


def marketable(side: int, price: float, limit: float, market: bool) -> bool:
    return market or (price <= limit if side > 0 else price >= limit)


def allocate(side: int, qty: int, limit: float, market: bool, split: bool, fok: bool,
             candidates: Sequence[Candidate]) -> Plan:
    """The children of a parent over `candidates` (in route order: ties go to the first).

    split (IOC): the marketable venues with size, best price after fees first, each taking
    what it displays until `qty` is covered (the rest is not sent). Else one child of `qty`:
    FOK at the best marketable venue displaying all of it (else the best), a resting order at
    the best (a venue with no touch ranks last)."""
    order = sorted(range(len(candidates)), key=lambda i: (
        candidates[i][2] <= 0, better_first_key(side, candidates[i][1], candidates[i][3]), i))
    ranked = [candidates[i] for i in order]
    if not split:
        if not ranked:
            return []
        best = ranked[0]
        if fok:
            best = next((c for c in ranked if c[2] >= qty
                         and marketable(side, c[1], limit, market)), best)
        return [(best[0], qty, best[1])]
    plan: Plan = []
    left = qty
    for venue_id, price, size, _fee in ranked:
        if left <= 0:
            break
        if size > 0 and marketable(side, price, limit, market):
            take = min(left, size)
            plan.append((venue_id, take, price))
            left -= take
    return plan


@dataclass(slots=True)
class Child:
    number: int
    venue_id: int
    qty: int
    filled: int = 0
    live: bool = True


@dataclass(slots=True)
class Parent:
    row: tuple[Any, ...]  # the DECISION_READ tuple
    qty: int
    split: bool  # IOC: split across venues; else one child at a time
    filled: int = 0
    children: dict[int, Child] = field(default_factory=dict)  # by venue_id
    reason: int = REASON_VENUE_DOWN  # of the last refusal: the parent's if none trades
    refused: int = 0  # children a venue refused
    offered: bool = False  # some venue was up when it was routed
    done: bool = False  # its last report is out
    sending: bool = False  # children are being sent: not over, whatever the first ones did
    unsent: int = 0  # refused children's quantity, routed again once the sending is over


class Router:
    """Parents in (DECISION_READ rows), ROUTED_WRITTEN reports out; `gate` is the execution
    engine's order manager: its marks take each parent once, its counters and exec ids go on."""

    def __init__(self, venues: Sequence[RoutedVenue], gate: OrderManager,
                 quotes: dict[int, Quote],
                 board: Callable[[int], Any] | None = None) -> None:
        self.venues, self.gate, self.quotes, self.board = tuple(venues), gate, quotes, board
        self.parents: dict[int, Parent] = {}
        self.scratch: list[FillRow] = []
        self.children_routed = 0
        self.children_rerouted = 0
        self.state = _UP  # the engine's gate: the router answers for down venues itself

    # -- in ------------------------------------------------------------------------------
    def send_new(self, row: tuple[Any, ...], now_ns: int, out: list[FillRow]) -> None:
        """One approved decision: deduplicated, checked, routed; its reports on `out`."""
        gate, scratch = self.gate, self.scratch
        if not gate.take(row, now_ns, scratch):
            self._gate_reports(out)
            return
        code = gate.admit(row[D.symbol_id], row[D.strategy_id], row[D.side], row[D.type],
                          row[D.qty], row[D.price])
        if code:
            gate.report(row, FILL_REJECTED, code, now_ns, scratch)
            self._gate_reports(out)
            return
        if self.board is not None:
            self._refresh((row[D.symbol_id],))
        parent = self.parents[row[D.order_id]] = Parent(row, row[D.qty], row[D.tif] == TIF_IOC)
        self._send(parent, parent.qty, now_ns, out)
        self._settle(parent, now_ns, out)

    def send_amend(self, row: tuple[Any, ...], now_ns: int, out: list[FillRow]) -> None:
        """A cancel or replace: to the venue holding the order, else refused."""
        parent = self.parents.get(row[AMEND_READ.order_id])
        live = [c for c in parent.children.values() if c.live] if parent else []
        if parent is None or len(live) != 1 or parent.split or isinstance(
                self.venues[live[0].venue_id - 1].venue, RingVenue):
            self.gate.amends._refuse(row, None, REASON_UNKNOWN_ORDER, now_ns, self.scratch)
            self._gate_reports(out)
            return
        v = self.venues[live[0].venue_id - 1]
        v.venue.send_amend(row, now_ns, v.out)
        self._take(v, now_ns, out)

    def poll(self, now_ns: int, out: list[FillRow]) -> None:
        """Every venue's timed work (latency, resting orders against the touch)."""
        if self.board is not None:
            self._refresh(self.symbols())
        for v in self.venues:
            if v.busy():
                v.venue.poll(now_ns, v.out)
                self._take(v, now_ns, out)

    def working(self) -> bool:
        return bool(self.parents)

    def pending(self) -> bool:
        """A child waits out its venue's latency."""
        return any(v.pending() for v in self.venues)

    def symbols(self) -> set[int]:
        return {p.row[D.symbol_id] for p in self.parents.values()}

    def next_wakeup_s(self, now_ns: int) -> float | None:
        waits = [w for v in self.venues if (w := v.venue.next_wakeup_s(now_ns)) is not None]
        return min(waits) if waits else None

    # -- routing -------------------------------------------------------------------------
    def candidates(self, parent: Parent) -> list[Candidate]:
        """The venues up and not yet tried for this parent, with their touch and fee."""
        row, out = parent.row, []
        side, market = row[D.side], row[D.type] == TYPE_MARKET
        quote = self.quotes.get(row[D.symbol_id])
        for v in self.venues:
            vid = v.config.venue_id
            if (vid in parent.children or v.venue.session_state() is not _UP
                    or not v.accepts(row)):
                continue
            price, size = (0.0, 0) if quote is None else v.displayed(quote, side)
            taker = marketable(side, price, row[D.price], market)
            out.append((vid, price, size, v.config.fees.per_share_fee(price, taker)))
        return out

    def _send(self, parent: Parent, qty: int, now_ns: int, out: list[FillRow]) -> None:
        row = parent.row
        candidates = self.candidates(parent)
        parent.offered = parent.offered or bool(candidates)
        plan = allocate(row[D.side], qty, row[D.price], row[D.type] == TYPE_MARKET,
                        parent.split, row[D.tif] == TIF_FOK, candidates)
        sending, parent.sending = parent.sending, True
        for venue_id, child_qty, price in plan:
            child = Child(len(parent.children) + 1, venue_id, child_qty)
            parent.children[venue_id] = child
            self.children_routed += 1
            self._emit(parent, child, FILL_ROUTED, REASON_OK, 0, price, child_qty, now_ns,
                       LIQUIDITY_TAKER, out)
            v = self.venues[venue_id - 1]
            v.venue.send_new((*row[:D.qty], child_qty, *row[D.qty + 1:]), now_ns, v.out)
            v.venue.poll(now_ns, v.out)  # no latency: it trades now, as the one venue does
            self._take(v, now_ns, out)
        parent.sending = sending
        if not sending and parent.unsent:  # refused meanwhile: to the venues not tried yet
            qty, parent.unsent = parent.unsent, 0
            self._send(parent, qty, now_ns, out)

    def _take(self, v: RoutedVenue, now_ns: int, out: list[FillRow]) -> None:
        """The venue's reports since the last look, folded into their parents'."""
        rows, v.out = v.out, []
        v.venue.om.order_prices.clear()
        for r in rows:
            parent = self.parents.get(r[W.order_id])
            if parent is not None:
                self._report(parent, parent.children[v.config.venue_id], r, now_ns, out)

    def _report(self, parent: Parent, child: Child, r: FillRow, now_ns: int,
                out: list[FillRow]) -> None:
        status, qty = r[W.status], r[W.qty]
        if status in (FILL_PARTIAL, FILL_FILLED):
            child.filled += qty
            parent.filled += qty
            child.live = status == FILL_PARTIAL
            whole = FILL_FILLED if parent.filled >= parent.qty else FILL_PARTIAL
            self._emit(parent, child, whole, REASON_OK, qty, r[W.price],
                       parent.qty - parent.filled, now_ns, r[W.liquidity], out)
        elif status == FILL_REJECTED:
            child.live, parent.reason = False, r[W.reason]
            parent.refused += 1
            self._emit(parent, child, FILL_CHILD_REJECTED, r[W.reason], 0, 0.0, 0, now_ns,
                       r[W.liquidity], out)
            if r[W.reason] in REROUTABLE:  # the order's own fault (self-match) goes nowhere
                self.children_rerouted += 1
                parent.unsent += child.qty - child.filled
                if not parent.sending:
                    qty, parent.unsent = parent.unsent, 0
                    self._send(parent, qty, now_ns, out)
        elif status in (FILL_CANCELLED, FILL_EXPIRED):
            child.live = False
            if not parent.split and parent.row[D.tif] != TIF_FOK:  # the resting order is over
                parent.done = True
                self._emit(parent, child, status, r[W.reason], 0, 0.0, 0, now_ns,
                           r[W.liquidity], out)
        elif status in (FILL_ACCEPTED, FILL_REPLACED) or r[W.leaves_qty]:
            if status == FILL_REPLACED:
                parent.qty = parent.filled + r[W.leaves_qty]
                child.qty = child.filled + r[W.leaves_qty]
            self._emit(parent, child, status, r[W.reason], 0, r[W.price],
                       parent.qty - parent.filled, now_ns, r[W.liquidity], out)
        else:  # FILL_AMEND_REJECTED: the order is unchanged
            self._emit(parent, child, status, r[W.reason], 0, 0.0,
                       parent.qty - parent.filled, now_ns, r[W.liquidity], out)
        self._settle(parent, now_ns, out)

    def _settle(self, parent: Parent, now_ns: int, out: list[FillRow]) -> None:
        """A parent whose children are all over: its last report, unless one was made."""
        if parent.sending or any(c.live for c in parent.children.values()):
            return
        del self.parents[parent.row[D.order_id]]
        if parent.done or parent.filled >= parent.qty:
            return
        if not parent.children:  # nothing sent: no venue up, or none showing size
            status, reason = ((FILL_EXPIRED, REASON_OK) if parent.offered
                              else (FILL_REJECTED, REASON_VENUE_DOWN))
        elif parent.refused == len(parent.children) and not parent.filled:
            status, reason = FILL_REJECTED, parent.reason  # every venue tried refused it
        else:
            status, reason = FILL_EXPIRED, REASON_OK  # the remainder no venue traded
        self._emit(parent, None, status, reason, 0, 0.0, 0, now_ns, LIQUIDITY_TAKER, out)

    # -- out -----------------------------------------------------------------------------
    def _emit(self, parent: Parent, child: Child | None, status: int, reason: int, qty: int,
              price: float, leaves: int, now_ns: int, liquidity: int,
              out: list[FillRow]) -> None:
        (order_id, strategy_id, symbol_id, side, _type, _tif, _ttl, _qty, limit, order_ts,
         seq, origin_ts, _verdict, decided_ts) = parent.row
        gate = self.gate
        gate.exec_id += 1
        gate.order_prices.append(limit)
        if qty:
            gate.fills += 1
        venue_id, number = (child.venue_id, child.number) if child else (0, 0)
        out.append((order_id, gate.exec_id, strategy_id, symbol_id, side, liquidity, status,
                    venue_id, reason, number, qty, price, leaves, now_ns, seq, origin_ts,
                    order_ts, decided_ts))

    def _gate_reports(self, out: list[FillRow]) -> None:
        out.extend(widen(r) for r in self.scratch)
        self.scratch.clear()

    def _refresh(self, symbols: Iterator[int] | set[int] | tuple[int, ...]) -> None:
        board, quotes, unpack = self.board, self.quotes, TOUCH_F.struct.unpack
        for sym in symbols:
            quote = board(sym)  # type: ignore[misc]
            if quote is not None:
                quotes[sym] = unpack(quote)
