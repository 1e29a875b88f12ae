"""Running requests: the cross-cutting work done once for every provider, and batches."""
