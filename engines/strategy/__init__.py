"""The shipped strategies: ticks in, orders out, with its one-tick kernel (StrategyEngine);
features, factors and signals in, orders out (ResearchStrategyEngine)."""

from engines.strategy._blend import Blend, BlendParams
from engines.strategy._signal import MeanReversion, OrderIds, SignalParams
from engines.strategy.engine import StrategyEngine, StrategyParams
from engines.strategy.research import ResearchStrategyEngine, ResearchStrategyParams

__all__ = ["Blend", "BlendParams", "MeanReversion", "OrderIds", "ResearchStrategyEngine",
           "ResearchStrategyParams", "SignalParams", "StrategyEngine", "StrategyParams"]
