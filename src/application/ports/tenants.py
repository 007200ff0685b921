"""The tenants port: the academies videos belong to, found by their slug."""

from __future__ import annotations

import abc


class TenantRepository(abc.ABC):
    @abc.abstractmethod
    def id_for_slug(self, slug: str) -> int | None:
        """The id of the tenant with this slug, or None."""

    @abc.abstractmethod
    def ensure(self, slug: str, name: str) -> int:
        """The id of the tenant with this slug, created (with `name`) when there is none.

        Two callers creating the same slug at once both get the one tenant.
        """
