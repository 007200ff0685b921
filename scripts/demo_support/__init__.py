"""Pieces of `make demo` (scripts/demo.py): child processes, sample media, progress, report."""
