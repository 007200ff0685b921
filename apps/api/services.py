"""The API's use cases, built once per process through the composition root."""

from __future__ import annotations

import threading

from academy.bootstrap import ApiUseCases, api_use_cases

_lock = threading.Lock()
_current: ApiUseCases | None = None


def use_cases() -> ApiUseCases:
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                _current = api_use_cases()
    return _current


def override(replacement: ApiUseCases | None) -> None:
    """Tests: serve requests with these use cases (None: build the real ones again)."""
    global _current
    with _lock:
        _current = replacement
