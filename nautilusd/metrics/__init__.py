"""Prometheus exposition: the /metrics and /health server, the collectors that read the
status table and ring headers at scrape time, and tick-to-fill latency sampling."""
