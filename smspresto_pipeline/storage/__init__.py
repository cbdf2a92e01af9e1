"""Storage: the one place that knows an engine."""
