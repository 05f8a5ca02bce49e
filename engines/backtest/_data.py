"""Backtest data: recorded ticks from Parquet in, fills and the equity curve out as Parquet.

A tick file has columns ts_ns (int64, ns since the epoch), symbol (string), bid, ask
(float64), bid_size, ask_size (int64): the replay CSV's columns. Needs pyarrow
(`pip install 'nautilusd[research]'`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engines.marketdata import FLAG_REPLAYED
from engines.params import ParamError
from shm.layout import FILL, TICK

TICK_COLUMNS = ("ts_ns", "symbol", "bid", "ask", "bid_size", "ask_size")


def pyarrow_modules() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise SystemExit("backtests need pyarrow: pip install 'nautilusd[research]'") from None
    return pa, pq


class TickFile:
    """A tick file read once: the symbols it holds and its ticks of chosen ones. The symbol
    column is read as Parquet stores it (dictionary encoded), so no string is decoded per
    row; a sweep's run reads its file once, not once for the symbols and again for the ticks.
    """

    def __init__(self, path: Path) -> None:
        pa, pq = pyarrow_modules()
        table = pq.read_table(path, read_dictionary=["symbol"]).unify_dictionaries()
        missing = [c for c in TICK_COLUMNS if c not in table.column_names]
        if missing:
            raise ParamError(f"{path}: tick file lacks columns {missing} "
                             f"(has {table.column_names})")
        column = table.column("symbol")  # one dictionary for every row group
        if not pa.types.is_dictionary(column.type):  # written another way: encode it here
            column = pa.chunked_array([column.combine_chunks().dictionary_encode()])
        if column.null_count:
            raise ParamError(f"{path}: tick file has {column.null_count} rows without a symbol")
        names = column.chunk(0).dictionary.to_pylist() if column.num_chunks else []
        self._names = [str(s) for s in names]
        self._codes = (np.concatenate([c.indices.to_numpy() for c in column.chunks])
                       .astype(np.int64, copy=False) if column.num_chunks
                       else np.zeros(0, np.int64))
        self._table = table
        present = np.bincount(self._codes, minlength=len(self._names)) > 0
        self.symbols: tuple[str, ...] = tuple(sorted(
            {s for s, here in zip(self._names, present, strict=True) if here}))

    def ticks(self, symbols: tuple[str, ...]) -> np.ndarray:
        """The file's ticks of `symbols` as a TICK array in stamp order, seq = row + 1 (rows
        of other symbols are skipped)."""
        index = {s: i for i, s in enumerate(symbols)}
        lookup = np.array([index.get(s, -1) for s in self._names], dtype=np.int64)
        codes = lookup[self._codes] if lookup.size else np.zeros(0, np.int64)
        mask = codes >= 0
        keep: np.ndarray | slice = slice(None) if mask.all() else mask  # all: no masked copies
        ticks = np.zeros(codes[keep].shape[0], TICK)
        ticks["symbol_id"] = codes[keep]
        for name in ("ts_ns", "bid", "ask", "bid_size", "ask_size"):
            ticks[name] = self._table.column(name).to_numpy()[keep]
        stamps = ticks["ts_ns"]
        if stamps.shape[0] > 1 and bool((stamps[1:] < stamps[:-1]).any()):  # recorded in order
            ticks = ticks[np.argsort(stamps, kind="stable")]  # is the usual case: no sort then
        ticks["seq"] = np.arange(1, ticks.shape[0] + 1, dtype=np.uint64)
        ticks["flags"] = FLAG_REPLAYED
        return ticks


def load_ticks(path: Path, symbols: tuple[str, ...]) -> np.ndarray:
    """The file's ticks of `symbols` (TickFile.ticks); a missing column is an error naming
    the file and column."""
    return TickFile(path).ticks(symbols)


def save_ticks(ticks: np.ndarray, symbols: tuple[str, ...], path: Path) -> None:
    """Write a TICK array as a tick file (its symbol ids named by `symbols`)."""
    pa, pq = pyarrow_modules()
    names = np.array(symbols, dtype=object)[ticks["symbol_id"].astype(np.intp)]
    table = pa.table({"ts_ns": ticks["ts_ns"], "symbol": names, "bid": ticks["bid"],
                      "ask": ticks["ask"], "bid_size": ticks["bid_size"],
                      "ask_size": ticks["ask_size"]})
    pq.write_table(table, path)


def save_records(records: np.ndarray, path: Path) -> None:
    """A structured array as Parquet, one column per field (padding left out)."""
    pa, pq = pyarrow_modules()
    if records.dtype.names is None:
        raise ValueError(f"{path}: not a structured array ({records.dtype})")
    cols = {n: records[n] for n in records.dtype.names if not n.startswith("_")}
    pq.write_table(pa.table(cols), path)


def save_columns(columns: dict[str, Any], path: Path) -> None:
    """Named columns (arrays or lists of equal length) as Parquet."""
    pa, pq = pyarrow_modules()
    pq.write_table(pa.table(columns), path)


def fills_bytes(fills: np.ndarray) -> bytes:
    """The fills exactly as a fills ring would carry them (the byte-compare artifact)."""
    if fills.dtype != FILL:
        raise ValueError(f"not FILL records: {fills.dtype}")
    return np.ascontiguousarray(fills).tobytes()
