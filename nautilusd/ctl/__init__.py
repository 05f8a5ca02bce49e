"""`nautilusctl`, the client: speaks the control protocol only and imports no engine and no
ring code (the config check, benchmarks and chaos run as child processes)."""
