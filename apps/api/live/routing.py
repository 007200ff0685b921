"""WebSocket routes (academy/asgi.py mounts them beside the HTTP application)."""

from __future__ import annotations

from django.urls import re_path

from apps.api.live.consumers import NoSuchStreamConsumer, VideoProgressConsumer

websocket_urlpatterns = [
    # Any number of digits: an id past bigint is a 4404 like any unknown video.
    re_path(r"^ws/v1/videos/(?P<video_id>[0-9]+)/?$", VideoProgressConsumer.as_asgi()),
    # Every other path is a 4404 too: with no route, Channels raises (an HTTP 500).
    re_path(r"", NoSuchStreamConsumer.as_asgi()),
]
