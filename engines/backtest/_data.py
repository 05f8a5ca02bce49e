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


def file_symbols(path: Path) -> tuple[str, ...]:
    """The symbols a tick file holds, sorted."""
    _, pq = pyarrow_modules()
    column = pq.read_table(path, columns=["symbol"]).column("symbol")
    return tuple(sorted(str(s) for s in column.unique().to_pylist()))


def load_ticks(path: Path, symbols: tuple[str, ...]) -> np.ndarray:
    """The file's ticks of `symbols` as a TICK array in stamp order, seq = row + 1 (rows of
    other symbols are skipped); a missing column is an error naming the file and column."""
    _, pq = pyarrow_modules()
    table = pq.read_table(path)
    missing = [c for c in TICK_COLUMNS if c not in table.column_names]
    if missing:
        raise ParamError(f"{path}: tick file lacks columns {missing} (has {table.column_names})")
    encoded = table.column("symbol").combine_chunks().dictionary_encode()
    index = {s: i for i, s in enumerate(symbols)}
    lookup = np.array([index.get(str(s), -1) for s in encoded.dictionary.to_pylist()],
                      dtype=np.int64)
    codes = lookup[encoded.indices.to_numpy()] if lookup.size else np.zeros(0, np.int64)
    mask = codes >= 0
    keep: np.ndarray | slice = slice(None) if mask.all() else mask  # all: no masked copies
    ticks = np.zeros(codes[keep].shape[0], TICK)
    ticks["symbol_id"] = codes[keep]
    for name in ("ts_ns", "bid", "ask", "bid_size", "ask_size"):
        ticks[name] = table.column(name).to_numpy()[keep]
    stamps = ticks["ts_ns"]
    if stamps.shape[0] > 1 and bool((stamps[1:] < stamps[:-1]).any()):  # recorded in order
        ticks = ticks[np.argsort(stamps, kind="stable")]  # is the usual case: no sort then
    ticks["seq"] = np.arange(1, ticks.shape[0] + 1, dtype=np.uint64)
    ticks["flags"] = FLAG_REPLAYED
    return ticks


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
