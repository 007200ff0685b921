"""Django settings: everything comes from academy.config (the environment, read once)."""

from __future__ import annotations

from academy.config import BASE_DIR, load_config

CONFIG = load_config()

DEBUG = CONFIG.debug
SECRET_KEY = CONFIG.secret_key
ALLOWED_HOSTS = list(CONFIG.allowed_hosts)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "apps.support.video.apps.VideoConfig",
    "apps.api.apps.ApiConfig",
    "apps.web.apps.WebConfig",
    "apps.support.webhooks.apps.WebhooksConfig",
    "apps.support.captions.apps.CaptionsConfig",
    "corsheaders",
    "ninja",
    "channels",
]

MIDDLEWARE = [
    "apps.api.http.middleware.RequestContextMiddleware",
    "apps.api.http.middleware.PerKeyMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.api.http.middleware.ProblemFallbackMiddleware",
]

# CORS: only the listed origins (the academies' own web apps) may call the API from a browser.
CORS_ALLOWED_ORIGINS = list(CONFIG.api_cors_origins)
CORS_URLS_REGEX = r"^/(api|media)/"
CORS_ALLOW_HEADERS = [
    "authorization",
    "content-type",
    "idempotency-key",
    "traceparent",
    "x-api-key",
    "x-request-id",
]
CORS_EXPOSE_HEADERS = [
    "location",
    "x-trace-id",
    "retry-after",
    "idempotent-replayed",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
]

# JSON bodies stay small; sources are streamed (PUT /source, multipart POST), never read whole.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
# Behind a proxy, absolute URLs (upload and asset links) use the host the client used.
USE_X_FORWARDED_HOST = True

# A webhook's `data` is the body GET /api/v1/videos/{id} gives: the API's presenter renders
# it (deliver_webhooks passes it to the dispatcher; the composition root knows no entry point).
WEBHOOK_PAYLOAD_RENDERER = "apps.api.presenters.videos.webhook_video"
ROOT_URLCONF = "academy.urls"
WSGI_APPLICATION = "academy.wsgi.application"
ASGI_APPLICATION = "academy.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# Live progress: Channels' Redis pub/sub layer, JSON on the wire, so that workers publish
# events with a plain PUBLISH (src/infrastructure/cache/progress_events.py).
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [{"address": CONFIG.redis_url, "socket_connect_timeout": 2}],
            "prefix": CONFIG.live_channel_prefix,
            "serializer_format": "json",
        },
    }
}

DATABASES = {"default": CONFIG.database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
# WhiteNoise serves the static files from the app server (no front-end build step): hashed,
# compressed copies made by `collectstatic` (make serve runs it) outside debug, the apps'
# own folders in debug.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# The web pages' session: signed with SECRET_KEY and kept in the cookie itself; it holds the
# tenant and API key row ids, never a key (apps/web/session_auth.py).
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
SESSION_COOKIE_NAME = "academy_session"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_AGE = 12 * 3600
# The CSRF token reaches the pages' scripts through a <meta> tag, so its cookie stays HttpOnly.
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = not DEBUG
CSRF_FAILURE_VIEW = "apps.web.views.csrf_failure"
LOGIN_URL = "web:sign-in"
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy: scripts only from this site's static files, no inline script;
# media, thumbnails and uploads only to this site and the storage it hands URLs for.
from apps.web.policy import content_security_policy  # noqa: E402

CONTENT_SECURITY_POLICY = content_security_policy(CONFIG)

# Django's own loggers go through structlog's JSON formatter (see src/infrastructure/logging.py).
LOGGING_CONFIG = None
from src.infrastructure.logging import configure_logging  # noqa: E402

configure_logging(level=CONFIG.log_level, worker_id=CONFIG.worker_id)
