"""The audit reader: copies every record of its rings to .npy files (tests, post-mortems)."""

from engines.audit.engine import AuditEngine

__all__ = ["AuditEngine"]
