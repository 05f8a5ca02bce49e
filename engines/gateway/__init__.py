"""The WebSocket gateway: bus topics to browsers, and the dashboard page it serves."""

from engines.gateway.engine import GatewayEngine

__all__ = ["GatewayEngine"]
