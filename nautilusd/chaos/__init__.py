"""Fault injection against a real `nautilusd run`, then reconciliation of the kept rings:
`nautilusctl chaos`."""
