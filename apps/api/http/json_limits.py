"""The one JSON reader for request input: JSON bodies, the multipart `metadata` field and the
idempotency fingerprint all parse through `loads`.

Limits are checked before or while parsing, so no crafted document reaches a recursion limit,
Python's integer-digit limit or PostgreSQL's refusal of non-finite numbers: each is an
`UnacceptableJson` (a ValueError), which the routes answer with 422.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# Far deeper than any producer's metadata, far shallower than any recursion limit.
MAX_DEPTH = 32
# Characters in one number literal: more than a float or a bigint ever needs.
MAX_NUMBER_CHARS = 40
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class UnacceptableJson(ValueError):
    """Valid JSON we refuse to process; the message says which limit it broke."""


def _depth(text: str) -> int:
    deepest = depth = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
    return deepest


def _int(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        raise UnacceptableJson(f"numbers must be at most {MAX_NUMBER_CHARS} characters long")
    return int(literal)


def _float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise UnacceptableJson(f"numbers must be at most {MAX_NUMBER_CHARS} characters long")
    value = float(literal)
    if not math.isfinite(value):
        raise UnacceptableJson(f"the number {literal[:20]} is out of range")
    return value


def _constant(name: str) -> Any:
    raise UnacceptableJson(f"{name} is not a JSON number (only finite numbers are accepted)")


def loads(text: str | bytes) -> Any:
    """json.loads with the limits; json.JSONDecodeError for text that is not JSON at all."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if _depth(text) > MAX_DEPTH:
        raise UnacceptableJson(f"JSON must be nested at most {MAX_DEPTH} levels deep")
    return json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
