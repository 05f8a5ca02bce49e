"""Positions and P&L per (strategy, symbol) from fills, marked to the last mid per symbol.

Average-cost accounting: realised P&L on the reducing part of a fill, the average price
carried on the rest, a flip opens at the fill price. `snapshot()` is the bus payload.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from engines.errors import StateError
from engines.statedir import StateDir


@dataclass(slots=True)
class Position:
    qty: int = 0
    avg_price: float = 0.0
    realised: float = 0.0
    fills: int = 0
    bought: int = 0
    sold: int = 0

    def apply(self, side: int, qty: int, price: float) -> None:
        """Book one execution of `qty` (> 0) at `price` on `side` (+1 buy, -1 sell)."""
        self.fills += 1
        if side > 0:
            self.bought += qty
        else:
            self.sold += qty
        signed = side * qty
        if self.qty == 0 or (self.qty > 0) == (side > 0):
            total = abs(self.qty) + qty
            self.avg_price = (self.avg_price * abs(self.qty) + price * qty) / total
            self.qty += signed
            return
        closing = min(qty, abs(self.qty))
        direction = 1 if self.qty > 0 else -1
        self.realised += closing * (price - self.avg_price) * direction
        self.qty += signed
        if self.qty == 0:
            self.avg_price = 0.0
        elif (self.qty > 0) != (direction > 0):  # flipped through flat: the rest opens here
            self.avg_price = price

    def unrealised(self, mark: float) -> float:
        if self.qty == 0 or math.isnan(mark):
            return 0.0
        return (mark - self.avg_price) * self.qty


class PositionBook:
    """Every position this host holds, and the marks it is valued at."""

    def __init__(self, symbols: tuple[str, ...]) -> None:
        self.symbols = symbols
        self.positions: dict[tuple[int, int], Position] = {}
        self.marks: list[float] = [math.nan] * len(symbols)
        self.mark_seq: list[int] = [0] * len(symbols)
        self.fills_applied = 0

    def on_fill(self, strategy_id: int, symbol_id: int, side: int, qty: int,
                price: float) -> None:
        if qty <= 0:
            return  # cancel / reject reports move nothing
        key = (strategy_id, symbol_id)
        pos = self.positions.get(key)
        if pos is None:
            pos = self.positions[key] = Position()
        pos.apply(side, qty, price)
        self.fills_applied += 1

    def dump(self) -> dict:  # type: ignore[type-arg]
        """Everything but the marks, JSON-ready (the state file's body)."""
        return {"fills_applied": self.fills_applied, "positions": [
            [s, y, p.qty, p.avg_price, p.realised, p.fills, p.bought, p.sold]
            for (s, y), p in sorted(self.positions.items())]}

    def load(self, doc: dict) -> None:  # type: ignore[type-arg]
        """Take back what dump() gave (a KeyError/ValueError/TypeError on anything else)."""
        self.fills_applied = int(doc["fills_applied"])
        self.positions = {
            (int(s), int(y)): Position(int(q), float(a), float(r), int(f), int(b), int(o))
            for s, y, q, a, r, f, b, o in doc["positions"]}

    def on_mark(self, symbol_id: int, mid: float, seq: int) -> None:
        if 0 <= symbol_id < len(self.marks):
            self.marks[symbol_id] = mid
            self.mark_seq[symbol_id] = seq

    def totals(self, strategy_id: int | None = None) -> tuple[float, float]:
        """(realised, unrealised) over every position, or one strategy's."""
        realised = unrealised = 0.0
        for (strat, sym), pos in self.positions.items():
            if strategy_id is None or strat == strategy_id:
                realised += pos.realised
                unrealised += pos.unrealised(self.marks[sym])
        return realised, unrealised

    def snapshot(self, strategy_id: int | None = None) -> dict:  # type: ignore[type-arg]
        """A msgpack-friendly document of positions, marks and P&L."""
        rows = []
        for (strat, sym), pos in sorted(self.positions.items()):
            if strategy_id is not None and strat != strategy_id:
                continue
            mark = self.marks[sym]
            rows.append({"strategy_id": strat, "symbol": self.symbols[sym], "symbol_id": sym,
                         "qty": pos.qty, "avg_price": pos.avg_price, "realised": pos.realised,
                         "unrealised": pos.unrealised(mark), "mark": mark,
                         "mark_seq": self.mark_seq[sym], "fills": pos.fills,
                         "bought": pos.bought, "sold": pos.sold})
        realised, unrealised = self.totals(strategy_id)
        return {"positions": rows, "realised": realised, "unrealised": unrealised,
                "pnl": realised + unrealised, "fills_applied": self.fills_applied}


class BookFile:
    """The book in the state dir as JSON with the fills cursor it covers (`<name>`)."""

    def __init__(self, state: StateDir, name: str) -> None:
        self.state, self.name = state, name

    def load(self, book: PositionBook) -> int | None:
        """Fill `book` from the file; the fills cursor it covers, or None without a file.
        A file that does not parse is an error naming it, never an empty book."""
        data = self.state.read(self.name)
        if data is None:
            return None
        try:
            doc = json.loads(data)
            book.load(doc)
            return int(doc["fills_cursor"])
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(self.state.path / self.name, f"not a position book: {exc}") from None

    def save(self, book: PositionBook, fills_cursor: int, durable: bool) -> None:
        doc = book.dump() | {"fills_cursor": fills_cursor}
        data = json.dumps(doc).encode()
        if durable:
            self.state.write_atomic(self.name, data)
        else:
            self.state.write_atomic(self.name, data, fsync=False)
