"""Runnable examples; each runs against the embedded sandbox with `--sandbox`."""
