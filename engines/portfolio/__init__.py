"""Portfolio: allocation across strategies (risk parity, mean-variance) from their P&L."""

from engines.portfolio._allocation import (
    budgets,
    covariance,
    mean_variance,
    project_simplex,
    risk_parity,
)
from engines.portfolio.engine import Allocator, PortfolioEngine, PortfolioParams

__all__ = ["Allocator", "PortfolioEngine", "PortfolioParams", "budgets", "covariance",
           "mean_variance", "project_simplex", "risk_parity"]
