"""FIX 4.4 venue connectivity: the session layer (engines.fix._session) over simplefix and the
gateway engine (engines.fix.engine.FixGatewayEngine)."""

from engines.fix._seqstore import MemorySeqStore
from engines.fix._session import FixSession
from engines.fix.engine import FixGatewayEngine

__all__ = ["FixGatewayEngine", "FixSession", "MemorySeqStore"]
