"""FIX 4.4 venue connectivity: the session layer (engines.fix._session) over simplefix."""
