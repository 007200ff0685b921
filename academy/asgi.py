"""The ASGI entry (`uvicorn academy.asgi:application`): HTTP (the API, the admin, media)
behind the body-size guard, and the live-progress WebSocket."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "academy.settings")
# Django is set up before anything imports models (the WebSocket consumers do).
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402 - Django is set up by the line above

from apps.api.body_limits import BodyLimitMiddleware  # noqa: E402
from apps.api.live.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": BodyLimitMiddleware(django_application, settings.CONFIG.max_source_bytes),
        # No origin check: the stream's credential is a token or an API key the client sends
        # on purpose, never a cookie a browser would attach for another site.
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
