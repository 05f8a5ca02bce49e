"""The risk engine: pre-trade checks on each order, decisions out, the kill switch service."""

from engines.risk._checks import RiskLimits, RiskState, decide
from engines.risk.engine import RiskEngine, RiskParams

__all__ = ["RiskEngine", "RiskLimits", "RiskParams", "RiskState", "decide"]
