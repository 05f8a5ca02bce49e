"""The risk engine: pre-trade checks on each order, decisions out, the kill switch service."""

from engines.risk.engine import RiskEngine

__all__ = ["RiskEngine"]
