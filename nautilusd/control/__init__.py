"""The control plane: the ROUTER server in the daemon loop, the wire protocol (msgpack
requests, typed error codes) and the commands, one module each."""
