"""The analytics engine: tick-to-fill latency and trading statistics on the bus."""

from engines.analytics.engine import AnalyticsEngine

__all__ = ["AnalyticsEngine"]
