"""Tick sources: the GBM feed, the CSV replay and the pacer."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from engines.harness import Harness
from engines.marketdata._bars import BarAggregator
from engines.marketdata._feed import FLAG_REPLAYED, GbmFeed, GbmParams, Pacer, ReplayFeed
from engines.params import ParamError
from engines.records import group_cumsum
from shm.layout import TICK

SAMPLE = Path(__file__).resolve().parents[2] / "configs" / "ticks.sample.csv"


def test_group_cumsum_when_keys_interleave_sums_within_each_key() -> None:
    """Running sums restart per key and keep the input order."""
    out = group_cumsum(np.array([1, 0, 1, 2, 0, 1]), np.array([1.0, 2, 3, 4, 5, 6]))
    assert out.tolist() == [1, 2, 4, 4, 7, 10]


def test_fill_when_same_seed_gives_same_ticks() -> None:
    """The synthetic feed is reproducible from its seed; sequence numbers are contiguous."""
    a, b = np.zeros(500, TICK), np.zeros(500, TICK)
    GbmFeed(4, GbmParams(seed=3)).fill(a, 10)
    GbmFeed(4, GbmParams(seed=3)).fill(b, 10)
    assert a.tobytes() == b.tobytes()
    assert a["seq"].tolist() == list(range(1, 501))


def test_fill_when_many_ticks_quotes_stay_positive_and_crossed_never() -> None:
    """Every tick has bid < ask, positive prices and sizes, known symbols."""
    feed = GbmFeed(3, GbmParams(sigma_per_sqrt_s=0.05))
    out = np.zeros(20_000, TICK)
    feed.fill(out, 1)
    assert (out["bid"] > 0).all() and (out["bid"] < out["ask"]).all()
    assert (out["bid_size"] > 0).all() and set(out["symbol_id"].tolist()) == {0, 1, 2}


def test_fill_when_batches_continue_mid_follows_last_tick() -> None:
    """The next batch starts from the last mid of each symbol, not from the start price."""
    feed = GbmFeed(1, GbmParams())
    out = np.zeros(100, TICK)
    feed.fill(out, 1)
    assert feed.mids[0] == pytest.approx((out["bid"][-1] + out["ask"][-1]) / 2)


def test_gbm_when_no_symbols_raises_param_error() -> None:
    """A feed without symbols is a configuration error naming the count."""
    with pytest.raises(ParamError, match="0"):
        GbmFeed(0, GbmParams())


def test_replay_when_recorded_pace_releases_ticks_by_time() -> None:
    """At speed 1 nothing beyond the elapsed recorded time is due; at speed 0 all are."""
    feed = ReplayFeed(SAMPLE, ("AAPL", "MSFT", "ESZ6", "EURUSD"), speed=1.0, loop=False)
    n = feed.ticks.size
    assert 0 < feed.due(0) < n
    assert feed.due(10**12) == n
    assert ReplayFeed(SAMPLE, ("AAPL",), speed=0, loop=False).due(0) > 0


def test_replay_when_filled_renumbers_and_flags_ticks() -> None:
    """Replayed ticks get fresh sequence numbers, the replay flag and the given stamp."""
    feed = ReplayFeed(SAMPLE, ("AAPL", "MSFT"), speed=0)
    out = np.zeros(feed.ticks.size + 5, TICK)  # wraps around: the file loops
    feed.fill(out, 99)
    assert out["seq"].tolist() == list(range(1, out.size + 1))
    assert (out["flags"] == FLAG_REPLAYED).all() and (out["ts_ns"] == 99).all()
    assert out["bid"][feed.ticks.size] == feed.ticks["bid"][0]


def test_replay_when_bad_row_names_file_and_line(tmp_path: Path) -> None:
    """A malformed CSV row fails with the file and line number."""
    bad = tmp_path / "bad.csv"
    bad.write_text("ts_ns,symbol,bid,ask,bid_size,ask_size\n1,AAPL,x,2,3,4\n")
    with pytest.raises(ParamError, match=r"bad.csv:2"):
        ReplayFeed(bad, ("AAPL",))


def test_pacer_when_time_passes_releases_rate_times_elapsed() -> None:
    """A 1,000/s pacer owes 250 ticks after 250 ms, minus those already emitted."""
    pacer = Pacer(1_000.0, start_ns=0)
    assert pacer.due(250_000_000) == 250
    pacer.emitted = 200
    assert pacer.due(250_000_000) == 50
    assert pacer.seconds_to_next(250_000_000) == pytest.approx(0.0)
    assert Pacer(1_000.0, 0).seconds_to_next(0) == pytest.approx(0.001)


def test_bars_when_ticks_span_a_second_give_ohlc_per_symbol() -> None:
    """A bar holds first, highest, lowest and last mid and the tick count, then resets."""
    bars = BarAggregator(("A", "B"))
    t = np.zeros(4, TICK)
    t["symbol_id"] = [0, 0, 1, 0]
    mids = np.array([10.0, 12.0, 50.0, 11.0])
    t["bid"], t["ask"] = mids - 0.5, mids + 0.5
    bars.update(t[:2])
    bars.update(t[2:])
    out = {b["symbol"]: b for b in bars.flush(7)}
    assert (out["A"]["open"], out["A"]["high"], out["A"]["low"], out["A"]["close"]) == (
        10.0, 12.0, 10.0, 11.0)
    assert out["A"]["ticks"] == 3 and out["B"]["ticks"] == 1 and out["A"]["t"] == 7
    assert bars.flush(8) == []


@pytest.mark.timeout(30)
def test_engine_when_paced_writes_ticks_at_its_rate(shm_dir: Path, runtime_dir: Path) -> None:
    """At 2,000 ticks/s the engine writes about that many per second, seq 1.., stamped."""
    with Harness(shm_dir, runtime_dir, {"ticks": ("tick", "overwrite", 4096)}) as h:
        reader = h.reader("ticks", 1)
        eng = h.engine("engines.marketdata:MarketDataEngine", "marketdata", (), ("ticks",),
                       rate_per_s=2000.0, bars=False)
        start = time.monotonic()
        while time.monotonic() - start < 0.5:
            eng.poll()
            time.sleep(min(eng.next_wakeup_s() or 0.0, 0.01))
        got = reader.read(4096)
        assert 700 <= got.shape[0] <= 1300
        assert got["seq"].tolist() == list(range(1, got.shape[0] + 1))
        assert (got["ts_ns"] > 0).all() and (got["bid"] < got["ask"]).all()
        reader.close()
        h.stop(eng)


@pytest.mark.timeout(30)
def test_engine_when_replaying_sample_writes_recorded_quotes(
    shm_dir: Path, runtime_dir: Path
) -> None:
    """The replay source writes the sample file's quotes, flagged as replayed, in order."""
    with Harness(shm_dir, runtime_dir, {"ticks": ("tick", "overwrite", 1024)}) as h:
        reader = h.reader("ticks", 1)
        eng = h.engine("engines.marketdata:MarketDataEngine", "marketdata", (), ("ticks",),
                       symbols=("AAPL", "MSFT", "ESZ6", "EURUSD"), source="replay",
                       replay_file=str(SAMPLE), replay_speed=0.0, replay_loop=False,
                       max_batch=64)
        while eng.poll():
            pass
        got = reader.read(1024)
        expected = ReplayFeed(SAMPLE, ("AAPL", "MSFT", "ESZ6", "EURUSD")).ticks
        assert got.shape[0] == expected.shape[0]
        assert (got["flags"] == FLAG_REPLAYED).all()
        assert got["bid"].tolist() == expected["bid"].tolist()
        reader.close()
        h.stop(eng)


def test_group_cumsum_when_many_keys_sorted_path_agrees_with_dense_path() -> None:
    """The sort-based path (many keys) and the dense path (few keys) give the same sums."""
    rng = np.random.default_rng(5)
    keys = rng.integers(0, 12, 500)
    values = rng.integers(-50, 50, 500)
    dense = group_cumsum(keys, values)
    sparse = group_cumsum(keys + 1000, values)  # same grouping, keys too large for columns
    assert dense.tolist() == sparse.tolist()
