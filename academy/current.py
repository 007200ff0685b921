"""This process's use cases (the API's, the web pages', the admin's, the live stream's), built
once through the composition root; tests serve with their own through `override()`."""

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
