"""The reference engine: the smallest engine that does the whole contract."""

from engines.reference.engine import ReferenceEngine

__all__ = ["ReferenceEngine"]
