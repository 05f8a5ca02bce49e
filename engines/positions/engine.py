"""The positions engine: positions and P&L per symbol and strategy from fills and ticks.

Publishes snapshots on `trading.positions.<strategy_id>` and `trading.positions.all`,
answers `positions.get`, and can keep the latest snapshot in a JSON file for audits.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engines.base import Engine
from engines.journal import KIND_FILL, has_journal, journal_records
from engines.params import parse_params
from engines.positions._book import BookFile, PositionBook
from engines.records import Fields
from engines.service import ServiceServer, service_endpoint
from engines.wiring import Every, one_reader, quiet
from shm.layout import FILL, TICK
from shm.status import W_CUSTOM0, W_RECORDS_IN

W_PNL_REALISED_CENTS = W_CUSTOM0
W_PNL_UNREALISED_CENTS = W_CUSTOM0 + 1
W_RECONCILED_FILLS = W_CUSTOM0 + 2  # fills replayed from the journal at this start (new rings)
W_RECONCILE_US = W_CUSTOM0 + 3  # how long that replay took

TICK_MARK = Fields(TICK, ("seq", "symbol_id", "bid", "ask"))  # what marks a position


@dataclass(frozen=True, kw_only=True, slots=True)
class PositionsParams:
    snapshot_interval_s: float = 1.0
    snapshot_file: str = ""  # "" = none; relative paths are under the runtime dir
    wake_on_ticks: bool = False  # False: marks are refreshed when fills come and per snapshot
    save_interval_s: float = 0.1  # the book goes to the state dir this long after a fill


class PositionsEngine(Engine):
    """Reads fills (block ring: none missed) and ticks (marks); publishes snapshots."""

    # the P&L words are refreshed with each snapshot; the reconcile words are set at start
    counters = ("pnl_realised_cents", "pnl_unrealised_cents", "reconciled_fills",
                "reconcile_us")
    params_spec = PositionsParams

    def on_start(self) -> None:
        self.p = parse_params(PositionsParams, self.ctx.params,
                              f"engines.{self.ctx.name}.params")
        self.fills = one_reader(self.ctx, FILL)
        self.ticks = one_reader(self.ctx, TICK, required=False)
        if self.ticks is not None and not self.p.wake_on_ticks:
            quiet(self.ctx, self.ticks)
        self.book = PositionBook(self.ctx.symbols or ("SYM0",))
        self.saved_at = BookFile(self.ctx.state, f"{self.ctx.name}.book")
        self._restore()
        self.unsaved = False
        self.timer = Every(self.p.snapshot_interval_s)
        self.save_timer = Every(self.p.save_interval_s)
        self.dirty = True
        self.snapshot_path = (self.ctx.runtime_dir / self.p.snapshot_file
                              if self.p.snapshot_file else None)
        self.service = ServiceServer(service_endpoint(self.ctx.runtime_dir, self.ctx.name),
                                     {"positions.get": self._get})

    def _restore(self) -> None:
        """The book kept in the state dir (as of fills cursor S), then every fill the ring
        still holds between S and the committed cursor; a ring behind S is a new one (a
        daemon restart or a reboot made it): the kept book is the whole story then."""
        since = self.saved_at.load(self.book)
        if since is None or self.fills.cursor < since:
            since = 0 if since is None else self.fills.cursor
            if since == 0 and self.fills.cursor == 0 and has_journal(self.ctx.state):
                self._book_from_journal()
                # Kept at once: the file on disk is the previous ring set's book (as of a
                # cursor of those rings), and a kill before the next save would restore it.
                self._save(durable=True)
        self.log.info("positions_restored", fills_applied=self.book.fills_applied,
                      since=since, cursor=self.fills.cursor)
        self._replay_fills(since)

    def _book_from_journal(self) -> None:
        """A new ring set: the book is a replay of the journal's fills (the kept book may
        miss the last fills before a power cut, or hold some the journal never got)."""
        started = time.monotonic_ns()
        fills = journal_records(self.ctx.state)[KIND_FILL]
        # The journal starts first: it may already hold fills of this ring set, which this
        # reader is about to read from the ring (cursor 0). Those are left to the ring. Read
        # after the journal, the ring holds every one of them (a record is journaled from it).
        _first, on_ring = self.fills.history(0, self.fills.cursor + self.fills.available())
        if on_ring.shape[0] and fills.shape[0]:
            void = np.dtype((np.void, fills.dtype.itemsize))
            fresh = np.isin(fills.view(void), on_ring.view(void), invert=True)
            self.log.info("positions_journal_overlap", fills=int((~fresh).sum()))
            fills = fills[fresh]
        self.book = PositionBook(self.ctx.symbols or ("SYM0",))
        for f in fills[["strategy_id", "symbol_id", "side", "qty", "price"]].tolist():
            self.book.on_fill(*f)
        self.ctx.status.put(W_RECONCILED_FILLS, int(fills.shape[0]))
        self.ctx.status.put(W_RECONCILE_US, (time.monotonic_ns() - started) // 1_000)
        self.log.info("positions_reconciled", source="journal", fills=int(fills.shape[0]))

    def _replay_fills(self, since: int) -> None:
        """Every fill still on the ring from `since` to the committed cursor."""
        first, done = self.fills.history(since)
        if first > since:  # the ring no longer holds the start of the session
            self.log.warning("positions_replay_partial", first=first, cursor=self.fills.cursor)
        for f in done[["strategy_id", "symbol_id", "side", "qty", "price"]].tolist():
            self.book.on_fill(*f)

    def poll(self) -> int:
        n = self._read_ticks() + self._read_fills()
        if n == 0:
            self.service.serve()
            if self.timer.due(time.monotonic_ns()) and self.dirty:
                self.publish_snapshots()
            if self.unsaved and self.save_timer.due(time.monotonic_ns()):
                self._save(durable=False)
        return n

    def _read_ticks(self) -> int:
        if self.ticks is None:
            return 0
        ticks: np.ndarray = self.ticks.read(4_096)
        n = int(ticks.shape[0])
        if n:
            sym = ticks["symbol_id"]
            last = np.full(int(sym.max()) + 1, -1, dtype=np.int64)
            last[sym] = np.arange(n)
            newest = ticks[last[last >= 0]]  # a copy: contiguous
            for seq, s, bid, ask in TICK_MARK.struct.iter_unpack(newest.view(np.uint8).data):
                self.book.on_mark(s, (bid + ask) * 0.5, seq)
            self.ticks.advance(n)
            self.dirty = True
        return n

    def _read_fills(self) -> int:
        fills: np.ndarray = self.fills.read(4_096)
        n = int(fills.shape[0])
        if n:
            for f in fills[["strategy_id", "symbol_id", "side", "qty", "price"]].tolist():
                self.book.on_fill(*f)
            self.fills.advance(n)
            self.ctx.status.add(W_RECORDS_IN, n)
            self.dirty = self.unsaved = True
        return n

    def publish_snapshots(self) -> None:
        pub = self.ctx.publisher()
        strategies = sorted({strat for strat, _ in self.book.positions})
        for strat in strategies:
            pub.publish(f"trading.positions.{strat}", self.book.snapshot(strat))
        total = self.book.snapshot()
        self.ctx.status.put(W_PNL_REALISED_CENTS, round(total["realised"] * 100))
        self.ctx.status.put(W_PNL_UNREALISED_CENTS, round(total["unrealised"] * 100))
        total["ts_ns"] = time.time_ns()
        total["fills_read"] = self.fills.cursor
        pub.publish("trading.positions.all", total)
        if self.snapshot_path is not None:
            tmp = self.snapshot_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(total))
            os.replace(tmp, self.snapshot_path)  # readers never see a half-written file
        self.dirty = False

    def _get(self, strategy_id: int | None = None) -> dict[str, Any]:
        """args {"strategy_id": n} (optional) -> that strategy's (or every) position."""
        return self.book.snapshot(strategy_id)

    def _save(self, durable: bool) -> None:
        self.saved_at.save(self.book, self.fills.cursor, durable)
        self.unsaved = False

    def next_wakeup_s(self) -> float | None:
        now = time.monotonic_ns()
        left = self.timer.seconds_left(now)
        if self.unsaved:
            return min(left, self.save_timer.seconds_left(now))
        return left

    def wait_handles(self) -> list[Any]:
        return [self.service.socket]

    def on_stop(self) -> None:
        while self._read_fills():
            pass
        self._save(durable=True)
        self.publish_snapshots()
        self.service.close()
        if self.ticks is not None and not self.p.wake_on_ticks:
            self.ticks.close()
        self.log.info("positions_stopped", fills=self.book.fills_applied,
                      pnl=self.book.totals())


def read_snapshot(path: Path) -> dict[str, Any]:
    """The last snapshot written to `snapshot_file` (for audits and tests)."""
    return json.loads(path.read_text())  # type: ignore[no-any-return]
