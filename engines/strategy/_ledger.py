"""What a strategy engine keeps across restarts: the order ids it issued and its own position.

`issued_ids` gives the OrderIds of a strategy writing an orders ring (ids are offset + ring
position; a new ring set starts past every id ever issued, kept in `<name>.ids`), and
`open_ledger` its position file, rebuilt from the journal on a new ring set, with the
`Ledger` that books its orders and fills off the order path. Every strategy engine of this
package sends orders the same way through them.
"""

from __future__ import annotations

import time

import numpy as np

from engines.base import EngineContext
from engines.errors import StateError
from engines.persist import StateFile
from engines.rings import RecordReader, RecordWriter
from engines.strategy._fills import OwnPosition, filled_from_journal, own_layout
from engines.strategy._signal import OrderIds
from engines.wiring import one_reader, quiet
from shm.layout import FILL

EXPIRE_EVERY = 64  # bookings between two looks for orders past their time to live
IDLE_EXPIRE_EVERY = 4_096  # idle looks with nothing to book between two such looks


def issued_ids(ctx: EngineContext, orders: RecordWriter, strategy_id: int
               ) -> tuple[np.ndarray, OrderIds]:
    """The `issued` high-water array (store past each poll's ids in it) and the OrderIds."""
    issued = StateFile(ctx.state, f"{ctx.name}.ids", {"offset": ("<i8", 1), "issued": ("<i8", 1)})
    if issued.lost:  # new ids could repeat ones risk has decided: refuse, do not guess
        ctx.state.unlink(issued.path.name)  # the next start must not find zeros
        raise StateError(issued.path, f"order ids {issued.status.value} after a ready "
                         "start: ids issued before are unknown; restore the file or clear "
                         "the state dir deliberately")
    if orders.cursor == 0:
        issued.arrays["offset"][0] = issued.arrays["issued"][0]
    ids = OrderIds(strategy_id, last_counter=int(issued.arrays["offset"][0]) + orders.cursor)
    return issued.arrays["issued"], ids


class Ledger:
    """Follows the strategy's orders ring and books its fills into OwnPosition."""

    def __init__(self, own: OwnPosition, orders: RecordWriter, fills: RecordReader,
                 saved: StateFile) -> None:
        self.own, self.orders, self.fills, self.saved = own, orders, fills, saved
        self.registered = orders.cursor  # orders before this one are not followed
        self.polls = 0
        self.idle_looks = 0

    def backlog(self) -> int:
        """Orders not yet followed or fills not yet booked, whichever is more."""
        return max(self.orders.cursor - self.registered, self.fills.available())

    def book(self) -> None:
        """Off the order path: follow the orders published since the last look, book the
        fills come since, now and then expire the late ones."""
        own, orders, fills = self.own, self.orders, self.fills
        if orders.cursor == self.registered and not fills.available():
            self.idle_looks += 1  # a quiet market still expires what got no report
            if self.idle_looks % IDLE_EXPIRE_EVERY == 0:
                own.expire(time.time_ns())
            return
        if orders.cursor > self.registered:
            first, sent = orders.history(self.registered)
            own.sent_batch(sent)
            self.registered = first + sent.shape[0]
        if fills.available():
            batch: np.ndarray = fills.read(4_096)
            own.book(batch, fills.cursor)
            fills.advance(batch.shape[0])
        self.polls += 1
        if self.polls % EXPIRE_EVERY == 0:
            own.expire(time.time_ns())

    def close(self) -> None:
        self.book()
        self.saved.flush()
        self.fills.close()


def open_ledger(ctx: EngineContext, orders: RecordWriter, strategy_id: int,
                position: np.ndarray, default_ttl_ns: int) -> Ledger | None:
    """The filled position from `<name>.position` into `position`, and its Ledger. A new ring
    set (a daemon start: what was read and never journaled went with the rings) or a file
    lost after a ready start takes the journal's fills instead; lost with no journal, the
    strategy refuses to start (it would size on a position it made up). None when the
    engine reads no fills ring (the position then counts every order sent)."""
    fills = one_reader(ctx, FILL, required=False)
    if fills is None:
        return None
    quiet(ctx, fills)  # booked when other work comes: fills never wake the strategy
    n_symbols = position.shape[0]
    saved = StateFile(ctx.state, f"{ctx.name}.position", own_layout(n_symbols))
    fresh = orders.cursor == 0  # a new ring set: the journal is the whole story
    if saved.lost or fresh:
        rebuilt = filled_from_journal(ctx.state, strategy_id, n_symbols)
        if rebuilt is None and not saved.lost:
            rebuilt = saved.arrays["filled"].copy()  # no journal: the file's own
        if rebuilt is None:
            ctx.state.unlink(saved.path.name)  # lost again at the next start
            raise StateError(saved.path, f"position {saved.status.value} after a ready "
                             "start and no journal to rebuild it from")
        saved.arrays["filled"][:] = rebuilt
        ctx.log.info("strategy_position_reconciled", lost=saved.lost, filled=rebuilt.tolist())
    if fresh:
        saved.arrays["fills_pos"][0] = fills.cursor
    own = OwnPosition(strategy_id, position, saved.arrays, default_ttl_ns)
    return Ledger(own, orders, fills, saved)
