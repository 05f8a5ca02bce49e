"""The shipped strategies: ticks in, orders out, with its one-tick kernel (StrategyEngine);
features, factors and signals in, orders out (ResearchStrategyEngine)."""

from engines.strategy._blend import Blend, BlendParams, Touch
from engines.strategy._signal import MeanReversion, OrderIds, OrderRow, SignalParams, write_orders
from engines.strategy.engine import StrategyEngine, StrategyParams
from engines.strategy.research import ResearchStrategyEngine, ResearchStrategyParams

__all__ = ["Blend", "BlendParams", "MeanReversion", "OrderIds", "OrderRow",
           "ResearchStrategyEngine", "ResearchStrategyParams", "SignalParams", "StrategyEngine",
           "StrategyParams", "Touch", "write_orders"]
