from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from apps.api.api import api
from apps.api.live.sse import video_events
from apps.api.playback.media import serve_playback
from apps.api.routers.metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    # Server-Sent Events: an async view outside ninja, streamed by the ASGI server.
    path("api/v1/videos/<int:video_id>/events", video_events, name="video-events"),
    path("api/v1/", api.urls),
    # Prometheus scrape target; keep it off the public load balancer (infra/README.md).
    path("metrics", metrics_view, name="metrics"),
    # READY outputs by playback id, with the playback policy (apps/api/playback/media.py).
    path("media/<path:rest>", serve_playback, name="media"),
    # The academy's web pages (apps/web/): sign in, library, upload, one video.
    path("", include("apps.web.urls")),
    path("favicon.ico", RedirectView.as_view(url="/static/web/favicon.svg", permanent=True)),
]
