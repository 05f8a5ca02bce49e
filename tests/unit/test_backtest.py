"""nautilusctl backtest: the pipeline over a Parquet file on recorded time, deterministic,
its sweep one run per combination, its errors naming what was wrong."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from engines.backtest import load, run, save_ticks, summary
from engines.backtest.cli import synthetic_ticks
from engines.clock import RecordedClock, clock_named
from nautilusd.ctl.main import main as nautilusctl
from shm.layout import FILL

pytest.importorskip("pyarrow")
pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]
SYMBOLS = ("AAPL", "MSFT", "ESZ6", "EURUSD")


def _file(tmp_path: Path, n: int = 60_000, span_s: float = 30.0, name: str = "t") -> Path:
    path = tmp_path / f"{name}.parquet"
    save_ticks(synthetic_ticks(n, len(SYMBOLS), span_s), SYMBOLS, path)
    return path


def _ctl(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = nautilusctl(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_backtest_when_run_twice_on_the_same_file_and_config_gives_identical_fills(
        tmp_path: Path) -> None:
    """Two runs of nautilusctl backtest: the same fill bytes and the same Parquet bytes."""
    data = _file(tmp_path)
    outs = []
    for name in ("a", "b"):
        code, out, err = _ctl("backtest", "--data", str(data), "--config",
                              str(ROOT / "configs" / "default.toml"), "--out",
                              str(tmp_path / name), "--json")
        assert code == 0, err
        outs.append(json.loads(out)["runs"][0])
    a, b = (tmp_path / "a" / "fills.bin").read_bytes(), (tmp_path / "b" / "fills.bin").read_bytes()
    assert len(a) // FILL.itemsize == outs[0]["fill_records"] > 0
    assert a == b
    assert (tmp_path / "a" / "fills.parquet").read_bytes() == \
        (tmp_path / "b" / "fills.parquet").read_bytes()
    assert outs[0]["pnl"] == outs[1]["pnl"]
    for name in ("equity.parquet", "summary.json", "report.html"):
        assert (tmp_path / "a" / name).stat().st_size > 0


def test_backtest_when_the_records_span_thirty_days_runs_on_their_clock_without_sleeping(
        tmp_path: Path) -> None:
    """Orders, decisions and fills are stamped with the recorded time (inside the file's
    span, a month before now): nothing waits for the time between records. Hourly bars:
    the run's cost is its ticks and bars, not the span (bench backtest measures that)."""
    ticks = synthetic_ticks(40_000, len(SYMBOLS), 30 * 86_400.0)
    res = run(ticks, load(None, SYMBOLS, [("features", "bar_ms", 3_600_000)]))
    first, last = int(ticks["ts_ns"][0]), int(ticks["ts_ns"][-1])
    assert res.fills.shape[0] > 0
    for field in ("ts_ns", "order_ts_ns", "decided_ts_ns", "origin_ts_ns"):
        assert first <= int(res.fills[field].min()) and int(res.fills[field].max()) <= last
    assert res.bars == 30 * 24  # hourly bars of recorded time, not of the run's


def test_backtest_cooldown_follows_recorded_time(tmp_path: Path) -> None:
    """A cooldown of a recorded minute allows one order per symbol per recorded minute,
    however fast the run goes."""
    ticks = synthetic_ticks(50_000, 1, 600.0)  # ten recorded minutes
    cfg = load(None, ("AAPL",), [("strategy", "cooldown_ms", 60_000.0),
                                         ("strategy", "threshold_bps", 0.0),
                                         ("backtest", "batch", 64)])
    res = run(ticks, cfg)
    assert 5 <= res.orders <= 11
    gaps = np.diff(np.unique(res.fills["origin_ts_ns"]))
    assert gaps.min() >= 60 * 10**9


def test_backtest_sweep_runs_every_combination_into_its_own_directory(tmp_path: Path) -> None:
    """--sweep a=1,2 --sweep b=x,y: four runs, each with its config, and one sweep table."""
    pq = pytest.importorskip("pyarrow.parquet")
    data = _file(tmp_path, n=20_000)
    code, out, err = _ctl("backtest", "--data", str(data), "--out", str(tmp_path / "s"),
                          "--sweep", "strategy.threshold_bps=1,2", "--sweep",
                          "risk.max_order_qty=50,100", "--workers", "2", "--json")
    assert code == 0, err
    runs = json.loads(out)["runs"]
    assert [r["overrides"] for r in runs] == [
        ["strategy.threshold_bps=1", "risk.max_order_qty=50"],
        ["strategy.threshold_bps=1", "risk.max_order_qty=100"],
        ["strategy.threshold_bps=2", "risk.max_order_qty=50"],
        ["strategy.threshold_bps=2", "risk.max_order_qty=100"]]
    table = pq.read_table(tmp_path / "s" / "sweep.parquet").to_pydict()
    assert table["run"] == ["run-000", "run-001", "run-002", "run-003"]
    assert json.loads(table["config"][3])["risk"]["max_order_qty"] == 100
    assert (tmp_path / "s" / "run-002" / "fills.bin").is_file()


@pytest.mark.parametrize(("argv", "named"), [
    (["--sweep", "strategy.threshold_bps"], "strategy.threshold_bps"),
    (["--sweep", "nosuch.key=1"], "nosuch.key=1"),
    (["--sweep", "strategy.threshold_bps=-1"], "threshold_bps"),
    (["--sweep", "strategy.no_such_param=1"], "no_such_param"),
])
def test_backtest_when_a_sweep_is_malformed_exits_2_naming_it(
        tmp_path: Path, argv: list[str], named: str) -> None:
    """A bad grid axis or value is a usage error that names it; nothing runs."""
    data = _file(tmp_path, n=1_000)
    code, _, err = _ctl("backtest", "--data", str(data), "--out", str(tmp_path / "o"), *argv)
    assert code == 2
    assert named in err


def test_backtest_when_the_data_file_is_missing_exits_2_naming_it(tmp_path: Path) -> None:
    """--data that is not a file: exit 2, the path in the message."""
    code, _, err = _ctl("backtest", "--data", str(tmp_path / "none.parquet"), "--out",
                        str(tmp_path / "o"))
    assert code == 2
    assert "none.parquet" in err


def test_recorded_clock_when_a_record_is_older_stays_where_it_is() -> None:
    """The recorded clock only moves forward; a config naming another clock is refused."""
    clock = RecordedClock()
    clock.advance(10)
    clock.advance(5)
    assert clock.now_ns() == 10
    with pytest.raises(ValueError, match="'sundial'"):
        clock_named("sundial", "engines.marketdata.params.clock")


def test_backtest_venue_latency_follows_recorded_time() -> None:
    """With 2 ms of venue latency every order trades 2 recorded ms after its decision, at the
    touch of that moment (the last tick of its symbol stamped by then)."""
    ticks = synthetic_ticks(30_000, 2, 30.0)  # a tick per ms
    cfg = load(None, ("AAPL", "MSFT"), [("execution", "latency_us", 2_000.0)])
    res = run(ticks, cfg)
    assert res.fills.shape[0] > 10
    assert np.all(res.fills["ts_ns"] - res.fills["decided_ts_ns"] == 2_000_000)
    traded = res.fills[res.fills["qty"] > 0]
    assert traded.shape[0] > 0
    assert summary(res, cfg.features.bar_ms)["tick_to_fill_us_p50"] == 2_000.0
    for fill in traded[:20]:
        mine = ticks[(ticks["symbol_id"] == fill["symbol_id"])
                     & (ticks["ts_ns"] <= fill["ts_ns"])]
        touch = mine[-1]["ask"] if fill["side"] > 0 else mine[-1]["bid"]
        assert fill["price"] == touch
