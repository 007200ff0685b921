"""Integration tests: real PostgreSQL, Redis and ffmpeg (checked before the first test), AWS
through moto. The repository backends fixture runs a test on the fake, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from apps.support.video.models import Tenant
from tests.integration.repo_backends import ALIASES, Backend, BackendFactory, make_repo
from tests.services import require_services


@pytest.fixture(scope="session", autouse=True)
def services_up() -> None:
    require_services()


@pytest.fixture(params=list(ALIASES))
def make_backend(request) -> BackendFactory:
    """Backends of one tenant, so a test can choose max_attempts and the default lease."""
    name = request.param
    alias = ALIASES[name]
    tenant_ids: list[int] = []

    def make(max_attempts: int = 3, lease_seconds: int = 300) -> Backend:
        if not tenant_ids:
            tenant_ids.append(
                7
                if alias is None
                else Tenant.objects.using(alias).create(slug=f"academy-{name}", name=name).pk
            )
        return Backend(name, make_repo(alias, max_attempts, lease_seconds), tenant_ids[0], alias)

    return make


@pytest.fixture
def backend(make_backend: BackendFactory) -> Backend:
    return make_backend()
