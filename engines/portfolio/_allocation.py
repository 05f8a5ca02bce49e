"""Allocation across strategies from their P&L: risk parity and mean-variance, long only.

Inputs are per-strategy P&L increments (one row per interval, one column per strategy).
Risk parity gives every strategy the same contribution w_i (S w)_i to the variance (Spinu's
convex formulation, solved by cyclic coordinate Newton steps); mean-variance maximises
mu'w - (risk_aversion / 2) w'S w over the simplex (exact over supports for a few
strategies, FISTA beyond). Covariances are shrunk towards their diagonal so that a short
history still gives a positive definite S.
"""

from __future__ import annotations

import numpy as np

_ITERATIONS = 500


def covariance(pnl: np.ndarray, shrink: float = 0.1) -> np.ndarray:
    """Sample covariance of the columns, shrunk by `shrink` towards its diagonal, with a
    floor on the diagonal (a strategy with flat P&L still gets a finite variance)."""
    s = np.atleast_2d(np.cov(pnl, rowvar=False, ddof=1)) if pnl.shape[0] > 1 else \
        np.zeros((pnl.shape[1], pnl.shape[1]))
    diag = np.diag(np.diag(s))
    out = (1 - shrink) * s + shrink * diag
    floor = max(float(np.diag(s).mean()) * 1e-6, 1e-12)
    out[np.diag_indices_from(out)] = np.maximum(np.diag(out), floor)
    result: np.ndarray = out
    return result


def risk_parity(cov: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """Weights (sum 1, all > 0) with equal risk contributions w_i (cov w)_i."""
    n = cov.shape[0]
    x = 1.0 / np.sqrt(np.diag(cov))
    for _ in range(_ITERATIONS):
        prev = x.copy()
        for i in range(n):  # minimise x'Cx/2 - sum(log x) in x_i: the positive root
            c = cov[i, i]
            b = float(cov[i] @ x) - c * x[i]
            x[i] = (-b + np.sqrt(b * b + 4 * c)) / (2 * c)
        if np.max(np.abs(x - prev) / prev) < tol:
            break
    w: np.ndarray = x / x.sum()
    return w


def mean_variance(mu: np.ndarray, cov: np.ndarray, risk_aversion: float) -> np.ndarray:
    """argmax over the simplex of mu'w - risk_aversion / 2 * w'cov w.

    Exact for up to EXACT_MAX strategies: the optimum is the KKT point of some support, so
    every support's equality-constrained optimum is solved and the best feasible one kept.
    Beyond, accelerated projected gradient (FISTA)."""
    n = mu.shape[0]
    if n <= EXACT_MAX:
        return _mv_exact(mu, cov, risk_aversion)
    w = y = np.full(n, 1.0 / n)
    t = 1.0
    step = 1.0 / max(risk_aversion * float(np.linalg.eigvalsh(cov).max()), 1e-12)
    for _ in range(_ITERATIONS * 20):
        new = project_simplex(y + step * (mu - risk_aversion * cov @ y))
        t_next = (1 + np.sqrt(1 + 4 * t * t)) / 2
        y = new + (t - 1) / t_next * (new - w)
        if np.max(np.abs(new - w)) < 1e-14:
            return new
        w, t = new, t_next
    return w


EXACT_MAX = 10


def _mv_exact(mu: np.ndarray, cov: np.ndarray, a: float) -> np.ndarray:
    n = mu.shape[0]
    best, best_w = -np.inf, np.full(n, 1.0 / n)
    for mask in range(1, 1 << n):
        idx = np.array([i for i in range(n) if mask >> i & 1])
        k = idx.size
        kkt = np.zeros((k + 1, k + 1))
        kkt[:k, :k] = a * cov[np.ix_(idx, idx)]
        kkt[:k, k] = 1.0
        kkt[k, :k] = 1.0
        try:
            sol = np.linalg.solve(kkt, np.r_[mu[idx], 1.0])
        except np.linalg.LinAlgError:
            continue
        if np.any(sol[:k] < -1e-12):
            continue
        w = np.zeros(n)
        w[idx] = np.maximum(sol[:k], 0.0)
        w /= w.sum()
        value = float(mu @ w - a / 2 * w @ cov @ w)
        if value > best:
            best, best_w = value, w
    return best_w


def project_simplex(v: np.ndarray) -> np.ndarray:
    """The Euclidean projection of v onto {w >= 0, sum w = 1}."""
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    k = np.arange(1, v.shape[0] + 1)
    rho = int(np.nonzero(u - css / k > 0)[0][-1])
    w: np.ndarray = np.maximum(v - css[rho] / (rho + 1), 0.0)
    return w


def budgets(pnl: np.ndarray, method: str, total: float, risk_aversion: float = 1.0,
            shrink: float = 0.1) -> np.ndarray:
    """Per-strategy budgets (summing to `total`) from a P&L increment history."""
    if pnl.shape[1] == 0:
        return np.zeros(0)
    cov = covariance(pnl, shrink)
    if method == "risk_parity":
        w = risk_parity(cov)
    elif method == "mean_variance":
        w = mean_variance(pnl.mean(axis=0), cov, risk_aversion)
    else:
        raise ValueError(f"allocation method {method!r} is not risk_parity or mean_variance")
    return w * total
