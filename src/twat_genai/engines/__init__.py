"""The README's engine API (``FALEngine`` and its configs): a thin face over providers + jobs."""
