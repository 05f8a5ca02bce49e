"""`nautilusctl`, the client: speaks the control protocol only and imports no engine and no
ring code (benchmarks and chaos load lazily, when asked for)."""
