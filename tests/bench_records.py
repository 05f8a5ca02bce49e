"""The ways a one-record hot path can read fields by name, timed: ns per record, best of 9.

`python tests/bench_records.py`. Risk's order read (7 of 13 fields) and execution's tick
read (5 of 9) as: a positional unpack of the whole record with `_` for the rest (the form
this replaced), the whole record indexed with Fields positions bound to locals, an
operator.itemgetter over those positions, and a Fields projection (only the named fields,
the rest pad bytes), which the engines use. Each returns the fields it read, as a tuple.
"""

from __future__ import annotations

import operator
import timeit
from collections.abc import Callable

import numpy as np

from engines.records import ORDER_F, TICK_F, Fields
from shm.layout import ORDER, TICK

N, REPEAT = 500_000, 9
ORDER_NAMES = ("order_id", "strategy_id", "symbol_id", "side", "qty", "price", "ts_ns")
TICK_NAMES = ("symbol_id", "bid", "ask", "bid_size", "ask_size")


def _record(dtype: np.dtype) -> memoryview:
    """A zeroed record as ring reads lend them: a memoryview of a writable buffer."""
    return memoryview(bytearray(np.zeros(1, dtype).tobytes()))


def order_forms() -> dict[str, Callable[[], object]]:
    rec, whole = _record(ORDER), ORDER_F.struct.unpack
    pick = operator.itemgetter(*(ORDER_F[n] for n in ORDER_NAMES))
    projected = Fields(ORDER, ORDER_NAMES).struct.unpack
    oid_i, strat_i, sym_i, side_i, qty_i, price_i, ts_i = (ORDER_F[n] for n in ORDER_NAMES)

    def positional() -> object:
        oid, strat, sym, side, _, _, _, _, qty, price, ts, _, _ = whole(rec)
        return oid, strat, sym, side, qty, price, ts

    def indexed() -> object:
        t = whole(rec)
        oid, strat, sym, side = t[oid_i], t[strat_i], t[sym_i], t[side_i]
        qty, price, ts = t[qty_i], t[price_i], t[ts_i]
        return oid, strat, sym, side, qty, price, ts

    def getter() -> object:
        oid, strat, sym, side, qty, price, ts = pick(whole(rec))
        return oid, strat, sym, side, qty, price, ts

    def projection() -> object:
        oid, strat, sym, side, qty, price, ts = projected(rec)
        return oid, strat, sym, side, qty, price, ts

    return {"positional": positional, "indexed": indexed, "itemgetter": getter,
            "projection": projection}


def tick_forms() -> dict[str, Callable[[], object]]:
    rec, whole = _record(TICK), TICK_F.struct.unpack
    pick = operator.itemgetter(*(TICK_F[n] for n in TICK_NAMES))
    projected = Fields(TICK, TICK_NAMES).struct.unpack
    sym_i, bid_i, ask_i, bs_i, as_i = (TICK_F[n] for n in TICK_NAMES)

    def positional() -> object:
        _, _, s, _, bid, ask, bid_size, ask_size, _ = whole(rec)
        return s, bid, ask, bid_size, ask_size

    def indexed() -> object:
        t = whole(rec)
        s, bid, ask, bid_size, ask_size = t[sym_i], t[bid_i], t[ask_i], t[bs_i], t[as_i]
        return s, bid, ask, bid_size, ask_size

    def getter() -> object:
        s, bid, ask, bid_size, ask_size = pick(whole(rec))
        return s, bid, ask, bid_size, ask_size

    def projection() -> object:
        s, bid, ask, bid_size, ask_size = projected(rec)
        return s, bid, ask, bid_size, ask_size

    return {"positional": positional, "indexed": indexed, "itemgetter": getter,
            "projection": projection}


def main() -> None:
    for label, forms in (("ORDER, 7 of 13 fields", order_forms()),
                         ("TICK, 5 of 9 fields", tick_forms())):
        print(label)
        for name, fn in forms.items():
            best = min(timeit.repeat(fn, number=N, repeat=REPEAT)) / N * 1e9
            print(f"  {name:12s} {best:6.1f} ns")


if __name__ == "__main__":
    main()
