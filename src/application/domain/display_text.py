"""Text people read back (a video's title, a producer's external id): one rule for every entry.

Ordinary Unicode (accents, scripts, emoji with their joiners) is kept. Refused: control
characters (C0, DEL, C1: they break log lines, CSV exports and terminals), the bidirectional
controls that reorder what a reader sees ("Trojan Source"), and text with nothing visible
in it (only spaces, zero-width characters or filler letters), which lists show as blank.
"""

from __future__ import annotations

import unicodedata

BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Letters and symbols that draw nothing (Hangul fillers, the Mongolian vowel separator, the
# blank braille pattern); format characters (Cf) and separators (Z*) draw nothing either.
BLANK_CHARACTERS = frozenset("\u115f\u1160\u180e\u2800\u3164\uffa0")


def _blank(char: str) -> bool:
    return (
        char.isspace()
        or char in BLANK_CHARACTERS
        or unicodedata.category(char) in ("Cf", "Zs", "Zl", "Zp")
    )


def display_text_problem(value: str) -> str | None:
    """Why `value` cannot be shown as a name, or None when it can."""
    for char in value:
        if unicodedata.category(char) == "Cc":
            return f"must not contain control characters (U+{ord(char):04X})"
        if char in BIDI_CONTROLS:
            return f"must not contain bidirectional control characters (U+{ord(char):04X})"
    if value and all(_blank(char) for char in value):
        return "must contain a visible character"
    return None
