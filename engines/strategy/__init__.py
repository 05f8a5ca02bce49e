"""The shipped strategy: ticks in, orders out, with its one-tick kernel."""

from engines.strategy.engine import StrategyEngine

__all__ = ["StrategyEngine"]
