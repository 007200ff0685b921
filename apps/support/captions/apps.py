from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _ensure_search_index(sender, using: str = "default", **_kwargs) -> None:
    from apps.support.captions.search_schema import ensure_sqlite_search_index

    ensure_sqlite_search_index(connections[using])


class CaptionsConfig(AppConfig):
    name = "apps.support.captions"
    label = "captions"
    verbose_name = "Captions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Once per migrate (on this app's signal): the search triggers SQLite may have dropped.
        post_migrate.connect(_ensure_search_index, sender=self)
