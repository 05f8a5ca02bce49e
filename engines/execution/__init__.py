"""The execution engine: approved orders to the venue simulator, fills out."""

from engines.execution.engine import ExecutionEngine

__all__ = ["ExecutionEngine"]
