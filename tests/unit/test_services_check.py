"""The integration and e2e tiers stop at once, naming what is missing, when a service is down."""

from __future__ import annotations

import pytest

from bench.harness import free_port
from tests import services


def test_a_missing_service_stops_the_run_with_one_clear_line(monkeypatch):
    port = free_port()  # nothing listens there
    monkeypatch.setattr(services, "SERVICES", (("PostgreSQL", port),))
    with pytest.raises(pytest.exit.Exception) as stopped:
        services.require_services()
    assert stopped.value.returncode == 3
    assert str(stopped.value.msg).startswith(
        f"required services are not running: PostgreSQL at 127.0.0.1:{port}"
    )
    assert "make services" in str(stopped.value.msg)
