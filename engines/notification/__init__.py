"""The notification engine: risk alerts and lifecycle events to the log and webhooks."""

from engines.notification.engine import NotificationEngine

__all__ = ["NotificationEngine"]
