"""The ASGI entry (`uvicorn academy.asgi:application`): Django (HTTP, behind the body-size
guard) and the WebSocket routes of live progress."""

import os

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "academy.settings")
# Under ASGI each request runs its synchronous code in a thread of its own, so a persistent
# connection (CONN_MAX_AGE) per thread is never reused and piles up until PostgreSQL refuses
# clients (bench/api_load.py saw 90 connections from one server). Each request opens and
# closes its own instead; put a pooler (PgBouncer) in front when connecting costs too much.
for database in settings.DATABASES.values():
    database["CONN_MAX_AGE"] = 0
# uvicorn configured its loggers before loading this module: from now on they lose tokens.
from src.infrastructure.logging import redact_server_logs  # noqa: E402

redact_server_logs()
# Django is set up before anything imports models (the WebSocket consumers do).
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from apps.api.http.body_limits import BodyLimitMiddleware  # noqa: E402
from apps.api.live.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": BodyLimitMiddleware(
            django_application,
            settings.CONFIG.max_source_bytes,
            settings.CONFIG.captions.max_upload_bytes,
        ),
        # No origin check: the stream's credential is a token or an API key the client sends
        # on purpose, never a cookie a browser would attach for another site.
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
