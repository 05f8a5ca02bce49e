"""Per-symbol trading rules of the order manager: tick size and lot size, from the config.

`Instruments.parse` turns the execution engine's `tick_sizes` / `lot_sizes` params (symbol
name -> size) into per-symbol-id arrays, refusing an unknown symbol or a size that is not a
positive number and naming the key it came from; `check` gives an order's REASON_* or 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engines.params import ParamError
from shm.layout import REASON_LOT_SIZE, REASON_OK, REASON_TICK_SIZE, TYPE_MARKET

TICK_TOLERANCE = 1e-6  # of a tick: a price within this of the grid is on it (binary floats)


@dataclass(frozen=True, slots=True)
class Instruments:
    tick_size: tuple[float, ...]  # per symbol id; 0.0 = any price
    lot_size: tuple[int, ...]  # per symbol id; 1 = any quantity

    @classmethod
    def parse(cls, symbols: Sequence[str], tick_sizes: Mapping[str, Any] | None,
              lot_sizes: Mapping[str, Any] | None, where: str) -> Instruments | None:
        """The rules the params give, or None when they give none (nothing to check)."""
        if not tick_sizes and not lot_sizes:
            return None
        ticks = _sizes(symbols, tick_sizes or {}, f"{where}.tick_sizes", float)
        lots = _sizes(symbols, lot_sizes or {}, f"{where}.lot_sizes", int)
        return cls(tuple(ticks.get(s, 0.0) for s in symbols),
                   tuple(int(lots.get(s, 1)) for s in symbols))

    def check(self, symbol_id: int, type_: int, qty: int, price: float) -> int:
        """REASON_LOT_SIZE, REASON_TICK_SIZE (limit orders only: a market order's price is a
        reference, not an instruction) or REASON_OK."""
        if symbol_id >= len(self.lot_size):
            return REASON_OK  # an unknown symbol is risk's to refuse (REASON_INVALID)
        if qty % self.lot_size[symbol_id]:
            return REASON_LOT_SIZE
        tick = self.tick_size[symbol_id]
        if tick and type_ != TYPE_MARKET:
            steps = price / tick
            if abs(steps - round(steps)) > TICK_TOLERANCE:
                return REASON_TICK_SIZE
        return REASON_OK


def _sizes(symbols: Sequence[str], raw: Mapping[str, Any], where: str,
           kind: type[float] | type[int]) -> dict[str, float]:
    if not isinstance(raw, Mapping):
        raise ParamError([f"{where}: expected a table of symbol = size, got {raw!r}"])
    problems, out = [], {}
    for name, size in raw.items():
        ok = isinstance(size, int | float) and not isinstance(size, bool) and size > 0 \
            and (kind is float or float(size).is_integer())
        if name not in symbols:
            problems.append(f"{where}.{name}: not a symbol of the topology {list(symbols)}")
        elif not ok:
            problems.append(f"{where}.{name}: expected a positive "
                            f"{'number' if kind is float else 'integer'}, got {size!r}")
        else:
            out[name] = float(size)
    if problems:
        raise ParamError(problems)
    return out
