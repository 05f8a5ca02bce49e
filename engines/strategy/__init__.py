"""The shipped strategy: ticks in, orders out, with its one-tick kernel."""

from engines.strategy._signal import MeanReversion, OrderIds, SignalParams
from engines.strategy.engine import StrategyEngine, StrategyParams

__all__ = ["MeanReversion", "OrderIds", "SignalParams", "StrategyEngine", "StrategyParams"]
