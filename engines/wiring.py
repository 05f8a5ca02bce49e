"""How the shipped engines find their rings in the context: by record layout, not by name.

A topology may name rings freely; an engine asks for "the tick reader" or "every order
reader" and gets a ParamError naming what it found when the wiring does not fit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal, overload

import numpy as np

from engines.base import EngineContext
from engines.params import ParamError
from engines.rings import RecordReader, RecordWriter

Quote = Callable[[int], memoryview | None]  # symbol id -> its latest tick's bytes, or None


def readers_of(ctx: EngineContext, dtype: np.dtype[Any], *,
               required: bool = True) -> list[RecordReader]:
    """Every reader ring of this record layout, in ring-name order."""
    found = [r for _, r in sorted(ctx.readers.items()) if r.dtype == dtype]
    if required and not found:
        raise ParamError(f"engine {ctx.name}: no reader ring of layout {_kind(dtype)}; "
                         f"has {sorted(ctx.readers)}")
    return found


@overload
def one_reader(ctx: EngineContext, dtype: np.dtype[Any], *,
               required: Literal[True] = ...) -> RecordReader: ...
@overload
def one_reader(ctx: EngineContext, dtype: np.dtype[Any], *,
               required: bool) -> RecordReader | None: ...
def one_reader(ctx: EngineContext, dtype: np.dtype[Any], *,
               required: bool = True) -> RecordReader | None:
    """The one reader ring of this layout (None when there is none and it is not required)."""
    found = readers_of(ctx, dtype, required=required)
    if len(found) > 1:
        raise ParamError(f"engine {ctx.name}: expects one {_kind(dtype)} reader ring, "
                         f"found {len(found)}")
    return found[0] if found else None


@overload
def one_writer(ctx: EngineContext, dtype: np.dtype[Any], *,
               required: Literal[True] = ...) -> RecordWriter: ...
@overload
def one_writer(ctx: EngineContext, dtype: np.dtype[Any], *,
               required: bool) -> RecordWriter | None: ...
def one_writer(ctx: EngineContext, dtype: np.dtype[Any], *,
               required: bool = True) -> RecordWriter | None:
    """The one writer ring of this layout (None when there is none and it is not required)."""
    found = [w for _, w in sorted(ctx.writers.items()) if w.dtype == dtype]
    if len(found) != 1 and (required or found):
        raise ParamError(f"engine {ctx.name}: expects one {_kind(dtype)} writer ring, "
                         f"has {sorted(ctx.writers)}")
    return found[0] if found else None


def quiet(ctx: EngineContext, reader: RecordReader) -> RecordReader:
    """Stop the runner from waking this engine for `reader` (it is read when other work comes).

    Every tick would otherwise wake every tick reader at once, and on a small box those
    wake-ups queue for the same cores as the order path. The caller closes the reader."""
    for name, found in list(ctx.readers.items()):
        if found is reader:
            del ctx.readers[name]
    return reader


def tick_quotes(ctx: EngineContext, wake_on_ticks: bool) -> tuple[RecordReader, Quote | None]:
    """The engine's tick reader, and the quote look-up it should use instead of reading ticks:
    `latest(symbol_id)` of the ring's latest-value board when ticks do not wake the engine and
    the ring keeps one, else None (read the ticks). Unless ticks wake it, the reader is made
    quiet (see `quiet`; the caller closes it)."""
    from shm.layout import TICK

    ticks = one_reader(ctx, TICK)
    if wake_on_ticks:
        return ticks, None
    quiet(ctx, ticks)
    return ticks, ticks.latest if ticks.latest_slots > 0 else None


def no_ticks() -> int:
    """The tick reading of an engine that looks quotes up on the board: none (0 records)."""
    return 0


def _kind(dtype: np.dtype[Any]) -> str:
    from shm.layout import RECORDS

    return next((k for k, v in RECORDS.items() if v == dtype), str(dtype))


class Every:
    """A cheap "is it time yet" for periodic work off the hot path."""

    def __init__(self, interval_s: float) -> None:
        self.interval_ns = int(interval_s * 1e9)
        self.next_ns = time.monotonic_ns() + self.interval_ns

    def due(self, now_ns: int) -> bool:
        if now_ns < self.next_ns:
            return False
        self.next_ns = now_ns + self.interval_ns
        return True

    def seconds_left(self, now_ns: int) -> float:
        return max(0.0, (self.next_ns - now_ns) * 1e-9)
