"""WebSocket routes (academy/asgi.py mounts them beside the HTTP application)."""

from __future__ import annotations

from django.urls import re_path

from apps.api.live.consumers import VideoProgressConsumer

websocket_urlpatterns = [
    re_path(r"^ws/v1/videos/(?P<video_id>[0-9]{1,19})/?$", VideoProgressConsumer.as_asgi()),
]
