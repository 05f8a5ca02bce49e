"""Property tests: the incremental features and the factors equal a straightforward pandas
computation (bars by groupby, indicators by ewm/rolling) over random tick series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engines.features import FACTOR_COLUMNS, FeatureParams, Features, factors
from shm.layout import TICK

pytestmark = pytest.mark.timeout(120)
BAR_NS = 1_000_000
PARAMS = FeatureParams(bar_ms=1, ema_alpha=0.3, vol_window=3, rsi_period=4, vwap_window=2,
                       horizons="1,3")


def _ticks(n_symbols: int, steps: list[tuple[int, int, int, int, int, int]]) -> np.ndarray:
    """A TICK array from (gap ns, symbol, bid move, spread, bid size, ask size) steps."""
    ticks = np.zeros(len(steps), TICK)
    bid = np.full(n_symbols, 100.0)
    ts = 1_700_000_000_000_000_000
    for i, (gap, sym, move, spread, bsz, asz) in enumerate(steps):
        ts += gap
        s = sym % n_symbols
        bid[s] = max(1.0, bid[s] + move * 0.01)
        ticks[i] = (i + 1, ts, s, 2, bid[s], bid[s] + spread * 0.01, bsz, asz, 0)
    return ticks


def _reference(ticks: np.ndarray, p: FeatureParams) -> pd.DataFrame:
    """Features per (bar, symbol) the plain way: pandas over the whole series."""
    df = pd.DataFrame({name: ticks[name] for name in ("ts_ns", "symbol_id", "bid", "ask")})
    df["bsz"] = ticks["bid_size"].astype(float)
    df["asz"] = ticks["ask_size"].astype(float)
    df["mid"] = (df.bid + df.ask) / 2
    df["w"] = df.bsz + df.asz
    df["bar"] = df.ts_ns // (p.bar_ms * 1_000_000)
    g = df.groupby("symbol_id")
    pb, pa, pbs, pas = (g[c].shift() for c in ("bid", "ask", "bsz", "asz"))
    df["e"] = ((df.bid >= pb) * df.bsz - (df.bid <= pb) * pbs.fillna(0)
               - (df.ask <= pa) * df.asz + (df.ask >= pa) * pas.fillna(0)).fillna(0)
    df["pv"] = df.mid * df.w
    bars = df.groupby(["symbol_id", "bar"]).agg(close=("mid", "last"), pv=("pv", "sum"),
                                                w=("w", "sum"), ofi=("e", "sum"))
    out = []
    for sym, b in bars.groupby(level=0):
        b = b.droplevel(0).copy()
        c = b.close
        r = np.log(c / c.shift())
        b["ema"] = c.ewm(alpha=p.ema_alpha, adjust=False).mean()
        b["vol"] = r.rolling(p.vol_window).std(ddof=1)
        d = c.diff().iloc[1:]
        gain = d.clip(lower=0).ewm(alpha=1 / p.rsi_period, adjust=False).mean()
        loss = (-d).clip(lower=0).ewm(alpha=1 / p.rsi_period, adjust=False).mean()
        b["rsi"] = 100 * gain / (gain + loss)
        b["vwap"] = (b.pv.rolling(p.vwap_window, min_periods=1).sum()
                     / b.w.rolling(p.vwap_window, min_periods=1).sum())
        for h in (1, 3):
            b[f"ret_{h}"] = c / c.shift(h) - 1
        b["symbol_id"] = sym
        out.append(b.reset_index())
    return pd.concat(out).set_index(["bar", "symbol_id"]).sort_index()


steps = st.lists(st.tuples(st.integers(0, 800_000), st.integers(0, 3), st.integers(-5, 5),
                           st.integers(1, 4), st.integers(1, 900), st.integers(1, 900)),
                 min_size=1, max_size=250)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps, n_symbols=st.integers(1, 4), batch=st.integers(1, 64))
def test_features_when_fed_in_any_batches_equal_the_pandas_reference(
        steps: list[tuple[int, int, int, int, int, int]], n_symbols: int, batch: int) -> None:
    """Every bar close's features equal the pandas computation, whatever the batch sizes."""
    ticks = _ticks(n_symbols, steps)
    f = Features(n_symbols, PARAMS)
    got = []
    for i in range(0, ticks.shape[0], batch):
        got.extend(f.update(ticks[i:i + batch]))
    last = f.flush()
    got.extend([last] if last is not None else [])
    ref = _reference(ticks, PARAMS)
    rows = {(bf.bar_ns // BAR_NS, int(s)): v for bf in got
            for s, v in zip(bf.symbol_ids, bf.values, strict=True)}
    assert sorted(rows) == list(ref.index)
    for key, values in rows.items():
        expect = ref.loc[key, list(f.columns)].to_numpy(dtype=float)
        np.testing.assert_allclose(values, expect, rtol=1e-7, atol=1e-9, equal_nan=True,
                                   err_msg=f"bar, symbol {key}: columns {f.columns}")


VALUE = st.one_of(st.floats(-1e3, 1e3).map(lambda v: round(v, 3)), st.just(float("nan")))


@settings(max_examples=100, deadline=None)
@given(table=st.lists(st.tuples(*(VALUE for _ in range(8))), min_size=1, max_size=12))
def test_factors_equal_pandas_zscores_and_ranks(table: list[tuple[float, ...]]) -> None:
    """Momentum, mean reversion and volatility rank equal pandas' cross-sectional ones."""
    columns = ("close", "ema", "vol", "rsi", "vwap", "ofi", "ret_1", "ret_3")
    latest = np.array(table, dtype=float)
    got = factors(latest, columns)
    df = pd.DataFrame(latest, columns=list(columns))

    def z(s: pd.Series) -> pd.Series:
        s = s.where(np.isfinite(s))
        sd = s.std(ddof=0)
        if s.count() < 2 or not sd > 0:
            return s * 0.0
        return (s - s.mean()) / sd

    ref = pd.DataFrame({"momentum": z(df.ret_3), "mean_reversion": -z(df.close / df.ema - 1),
                        "vol_rank": df.vol.rank(pct=True)})
    np.testing.assert_allclose(got, ref[list(FACTOR_COLUMNS)].to_numpy(), rtol=1e-9,
                               atol=1e-9, equal_nan=True)
