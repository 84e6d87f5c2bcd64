"""Reaching the agencies: connector files, the HTTP client each agency is called through (with its guard:
in-flight cap, circuit breaker, retries, hedging), record mapping, adapters for unusual wire formats, and
the directory, the only agency data that is cached."""
