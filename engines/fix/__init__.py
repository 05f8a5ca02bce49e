"""FIX 4.4 venue connectivity: the session layer (engines.fix._session) over simplefix and the
gateway engine (engines.fix.engine.FixGatewayEngine)."""

from engines.fix.engine import FixGatewayEngine

__all__ = ["FixGatewayEngine"]
