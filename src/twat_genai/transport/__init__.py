"""One async HTTP stack for every provider: timeouts, retries, limits, redaction, base URLs."""
