"""Benchmarks that print ratios: run with `python -m bench.<name>`."""
