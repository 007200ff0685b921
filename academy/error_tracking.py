"""Optional error tracking: with SENTRY_DSN set, sentry-sdk reports errors from the web app,
the worker and every command (Django integration; performance tracing off unless
SENTRY_TRACES_SAMPLE_RATE says otherwise).

Nothing secret leaves: `scrub_event` (the `before_send` hook, and `before_send_transaction`)
replaces, anywhere in an event, the values of fields named like credentials (Authorization,
X-API-Key, cookies, tokens, secrets, receipt handles) and, in every string, API keys,
webhook secrets, bearer credentials and the query of signed URLs (presigned S3 URLs,
`?token=` progress tokens); `send_default_pii` stays off (no cookies, no client address).
"""

from __future__ import annotations

import re
from typing import Any

from src.application.domain.redaction import FILTERED, scrub_secrets

# Field names (any case, anywhere in an event) whose values are never sent.
_SENSITIVE_NAME = re.compile(
    r"(?i)(authorization|api[-_]?key|cookie|token|secret|password|passwd|pepper|signature|"
    r"credential|receipt[-_]?handle|dsn|session)"
)
_initialised = False


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """The event with every credential replaced (sentry-sdk's before_send)."""
    return _scrub(event)


def _scrub(value: Any, name: str = "") -> Any:
    if name and _SENSITIVE_NAME.search(name) and isinstance(value, str | bytes | int):
        return FILTERED
    if isinstance(value, str):
        if name == "query_string":  # the request's query, without its "?"
            return scrub_secrets(f"?{value}")[1:]
        return scrub_secrets(value)
    if isinstance(value, dict):
        return {key: _scrub(item, str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        # Header lists come as [name, value] pairs.
        if len(value) == 2 and isinstance(value[0], str) and _SENSITIVE_NAME.search(value[0]):
            return [value[0], FILTERED]
        return [_scrub(item, name) for item in value]
    return value


def init_error_tracking(config: Any, component: str, transport: Any = None) -> bool:
    """Start sentry-sdk when `config.sentry.dsn` is set (once per process); whether it did."""
    global _initialised
    if not config.sentry.dsn or _initialised:
        return _initialised
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration

    options: dict[str, Any] = {
        "dsn": config.sentry.dsn,
        "environment": config.sentry.environment,
        "traces_sample_rate": config.sentry.traces_sample_rate,
        "send_default_pii": False,
        "before_send": scrub_event,
        "before_send_transaction": scrub_event,
        "integrations": [DjangoIntegration()],
        "server_name": config.worker_id,
    }
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(**options)
    sentry_sdk.set_tag("component", component)
    _initialised = True
    return True
