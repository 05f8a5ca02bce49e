"""Fault injection against a real `nautilusd run`, then reconciliation of the kept rings:
`nautilusctl chaos`."""

from nautilusd.chaos._reconcile import reconcile

__all__ = ["reconcile"]
