"""nautilusctl backtest: the pipeline over a Parquet file on recorded time, deterministic,
its sweep one run per combination, its errors naming what was wrong."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engines.backtest import TickFile, load, load_ticks, run, save_ticks, summary
from engines.backtest.cli import synthetic_ticks
from engines.clock import RecordedClock, clock_named
from engines.params import ParamError
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


@pytest.mark.parametrize(("config", "strategy"), [("default.toml", "mean_reversion"),
                                                  ("research.toml", "research")])
def test_backtest_when_run_twice_on_the_same_file_and_config_gives_identical_fills(
        tmp_path: Path, config: str, strategy: str) -> None:
    """Two runs of nautilusctl backtest: the same fill bytes and the same Parquet bytes, with
    the shipped strategy and with the research one (research.toml: features and factors
    -> the research strategy -> risk -> execution)."""
    data = _file(tmp_path)
    outs = []
    for name in ("a", "b"):
        code, out, err = _ctl("backtest", "--data", str(data), "--config",
                              str(ROOT / "configs" / config), "--out",
                              str(tmp_path / name), "--json")
        assert code == 0, err
        outs.append(json.loads(out)["runs"][0])
        ran = json.loads((tmp_path / name / "summary.json").read_text())["config"]
        assert ran["strategy_kind"] == strategy
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


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.sampled_from((*SYMBOLS, "XXX"))),
                min_size=0, max_size=60),
       st.integers(1, 64), st.booleans())
def test_load_ticks_when_rows_are_out_of_order_or_of_other_symbols_gives_them_in_stamp_order(
        tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[int, str]],
        row_group: int, dictionary: bool) -> None:
    """A tick file's rows come back in stamp order, ties in file order (stable), rows of
    symbols not asked for dropped, seq numbering the result: whether the file was recorded in
    order (no sort is made then) or not, in row groups of any size (each with a dictionary
    of its own symbols), its symbol column plain strings or dictionary encoded. Its symbols
    are those its rows hold."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path_factory.mktemp("ticks") / "t.parquet"
    n = len(rows)
    symbol = pa.array([sym for _, sym in rows], pa.string())
    pq.write_table(pa.table({
        "ts_ns": pa.array([ts for ts, _ in rows], pa.int64()),
        "symbol": symbol.dictionary_encode() if dictionary else symbol,
        "bid": pa.array([float(i) for i in range(n)], pa.float64()),
        "ask": pa.array([float(i) + 0.5 for i in range(n)], pa.float64()),
        "bid_size": pa.array(list(range(n)), pa.int64()),
        "ask_size": pa.array(list(range(n)), pa.int64())}), path, row_group_size=row_group)
    assert TickFile(path).symbols == tuple(sorted({sym for _, sym in rows}))
    ticks = load_ticks(path, SYMBOLS)
    want = sorted(((ts, i, SYMBOLS.index(sym)) for i, (ts, sym) in enumerate(rows)
                   if sym in SYMBOLS), key=lambda r: r[0])  # sorted() is stable
    assert ticks["ts_ns"].tolist() == [ts for ts, _, _ in want]
    assert ticks["bid_size"].tolist() == [i for _, i, _ in want]  # which row, ties in order
    assert ticks["symbol_id"].tolist() == [s for _, _, s in want]
    assert ticks["seq"].tolist() == list(range(1, len(want) + 1))


def test_tick_file_when_a_row_has_no_symbol_is_refused_naming_the_file(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"ts_ns": [1, 2], "symbol": ["AAPL", None], "bid": [1.0, 1.0],
                             "ask": [1.5, 1.5], "bid_size": [1, 1], "ask_size": [1, 1]}), path)
    with pytest.raises(ParamError, match=r"t\.parquet: tick file has 1 rows without a symbol"):
        TickFile(path)


def test_backtest_research_strategy_when_the_momentum_weight_flips_its_sides_flip() -> None:
    """On the features alone, the research strategy's first orders with momentum weight +1
    and -1 are the same symbols at the same ticks on opposite sides: the factor drives the
    side (other weights 0)."""
    ticks = synthetic_ticks(60_000, len(SYMBOLS), 30.0)
    runs = []
    for weight in (1.0, -1.0):
        overrides = [("backtest", "strategy", "research"), ("features", "bar_ms", 250),
                     ("strategy", "momentum_weight", weight),
                     ("strategy", "reversion_weight", 0.0), ("strategy", "ofi_weight", 0.0),
                     ("strategy", "threshold", 0.5)]
        runs.append(run(ticks, load(None, SYMBOLS, overrides)).fills)
    first = [f[np.isin(f["status"], (1, 2))][:5] for f in runs]
    assert first[0].shape[0] == 5
    assert first[0]["origin_seq"].tolist() == first[1]["origin_seq"].tolist()
    assert first[0]["symbol_id"].tolist() == first[1]["symbol_id"].tolist()
    assert (first[0]["side"] == -first[1]["side"]).all()
    assert (first[0]["strategy_id"] == 2).all()


def test_backtest_when_the_strategy_override_is_unknown_names_it() -> None:
    """backtest.strategy takes research or mean_reversion; anything else is an error
    naming the value and the choices."""
    with pytest.raises(ParamError, match=r"backtest.strategy='momo'.*research"):
        load(None, SYMBOLS, [("backtest", "strategy", "momo")])


@pytest.mark.parametrize(("bias", "side"), [(1e-3, 1), (-1e-3, -1)])
def test_backtest_with_models_when_the_model_expects_a_move_trades_its_side_deterministically(
        tmp_path: Path, bias: float, side: int) -> None:
    """nautilusctl backtest --models DIR on research.toml: the research strategy trades on
    the model in force's signals (a +10 bp model only buys, a -10 bp one only sells), and two
    runs give the same fill bytes."""
    pytest.importorskip("onnxruntime")
    from engines.features import FeatureParams, Features
    from engines.models import ModelRegistry, input_columns, linear_model

    state = tmp_path / "state"
    k = len(input_columns(Features(1, FeatureParams()).columns))
    reg = ModelRegistry(state)
    reg.set_current(reg.register(linear_model(np.zeros(k), np.ones(k), np.zeros(k), bias),
                                 {"columns": list(input_columns(
                                     Features(1, FeatureParams()).columns))}))
    data = _file(tmp_path, n=60_000, span_s=60.0)
    blobs = []
    for name in ("a", "b"):
        code, _, err = _ctl("backtest", "--data", str(data), "--config",
                            str(ROOT / "configs" / "research.toml"), "--models", str(state),
                            "--out", str(tmp_path / name), "--json")
        assert code == 0, err
        blobs.append((tmp_path / name / "fills.bin").read_bytes())
    assert blobs[0] == blobs[1]
    fills = np.frombuffer(blobs[0], FILL)
    traded = fills[np.isin(fills["status"], (1, 2))]
    assert traded.shape[0] > 0 and set(traded["side"].tolist()) == {side}


def test_backtest_with_models_when_no_model_is_in_force_exits_2_naming_the_dir(
        tmp_path: Path) -> None:
    """--models on a state dir without a current model: exit 2, the dir named, no traceback."""
    pytest.importorskip("onnxruntime")
    code, _, err = _ctl("backtest", "--data", str(_file(tmp_path, n=5_000)), "--config",
                        str(ROOT / "configs" / "research.toml"), "--models",
                        str(tmp_path / "empty"), "--out", str(tmp_path / "o"))
    assert code == 2 and str(tmp_path / "empty") in err and "Traceback" not in err
