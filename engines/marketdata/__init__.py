"""The market-data engine: a GBM or replayed feed onto the ticks ring, bars on the bus."""

from engines.marketdata._feed import FLAG_REPLAYED, GbmFeed, GbmParams
from engines.marketdata.engine import MarketDataEngine

__all__ = ["FLAG_REPLAYED", "GbmFeed", "GbmParams", "MarketDataEngine"]
