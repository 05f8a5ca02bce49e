"""The positions engine: fills in, positions and P&L on the bus and as a service."""

from engines.positions.engine import PositionsEngine

__all__ = ["PositionsEngine"]
