"""Property tests: risk parity equalises risk contributions, mean-variance is the optimum
over the simplex (no feasible perturbation does better), budgets add up to the total."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engines.portfolio import (
    Allocator,
    PortfolioParams,
    budgets,
    covariance,
    mean_variance,
    project_simplex,
    risk_parity,
)

pytestmark = pytest.mark.timeout(120)


@st.composite
def pnl_histories(draw: st.DrawFn) -> np.ndarray:
    n = draw(st.integers(1, 6))
    t = draw(st.integers(3, 60))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.1, 100.0, n)
    mix = rng.normal(size=(n, n)) * draw(st.floats(0, 1))
    return (rng.normal(size=(t, n)) @ (np.eye(n) + mix)) * scale


@settings(max_examples=80, deadline=None)
@given(pnl=pnl_histories())
def test_risk_parity_when_solved_gives_every_strategy_the_same_risk(pnl: np.ndarray) -> None:
    """w > 0, sum 1, and w_i (S w)_i equal for all i."""
    cov = covariance(pnl)
    w = risk_parity(cov)
    assert np.all(w > 0) and np.isclose(w.sum(), 1.0)
    rc = w * (cov @ w)
    np.testing.assert_allclose(rc, rc.mean(), rtol=1e-6)


@settings(max_examples=80, deadline=None)
@given(pnl=pnl_histories(), aversion=st.floats(0.01, 10.0), seed=st.integers(0, 10**6))
def test_mean_variance_when_solved_beats_every_nearby_feasible_weight(
        pnl: np.ndarray, aversion: float, seed: int) -> None:
    """The objective at the solution is at least that at random feasible points near it."""
    cov, mu = covariance(pnl), pnl.mean(axis=0)
    w = mean_variance(mu, cov, aversion)
    assert np.all(w >= 0) and np.isclose(w.sum(), 1.0)

    def objective(x: np.ndarray) -> float:
        return float(mu @ x - aversion / 2 * x @ cov @ x)

    rng = np.random.default_rng(seed)
    best = objective(w)
    for _ in range(20):
        other = project_simplex(w + rng.normal(scale=0.1, size=w.shape))
        assert objective(other) <= best + 1e-9 * max(1.0, abs(best))


@settings(max_examples=50, deadline=None)
@given(pnl=pnl_histories(), total=st.floats(1.0, 1e6),
       method=st.sampled_from(["risk_parity", "mean_variance"]))
def test_budgets_add_up_to_the_total(pnl: np.ndarray, total: float, method: str) -> None:
    """Whatever the method, budgets are >= 0 and sum to the total."""
    b = budgets(pnl, method, total)
    assert np.all(b >= 0)
    assert np.isclose(b.sum(), total, rtol=1e-9)


def test_allocator_when_fed_snapshots_budgets_the_calmer_strategy_more() -> None:
    """Two strategies, one with ten times the P&L swings: risk parity gives it ~1/10 of
    the budget; an unknown method is refused naming it."""
    alloc = Allocator(PortfolioParams(total_budget=1_000.0))
    rng = np.random.default_rng(1)
    pnl = np.zeros(2)
    for _ in range(400):
        pnl += rng.normal(size=2) * [1.0, 10.0]
        for s in (1, 2):
            alloc.on_snapshot(s, float(pnl[s - 1]))
    doc = alloc.allocate()
    assert doc is not None and doc["samples"] == 399
    ratio = doc["budgets"]["1"] / doc["budgets"]["2"]
    assert 7 < ratio < 13
    assert sum(doc["budgets"].values()) == pytest.approx(1_000.0)
    with pytest.raises(ValueError, match="'kelly'"):
        budgets(np.ones((3, 2)), "kelly", 1.0)
