"""How a demo step fails: the message says which step and why."""

from __future__ import annotations


class DemoFailed(Exception):
    """A step failed; the message says which and why."""


class DemoTimeout(DemoFailed):
    """--timeout ran out."""
