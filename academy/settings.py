"""Django settings: everything comes from academy.config (the environment, read once)."""

from __future__ import annotations

from academy.config import BASE_DIR, load_config

CONFIG = load_config()

DEBUG = CONFIG.debug
SECRET_KEY = CONFIG.secret_key
ALLOWED_HOSTS = ["*"] if DEBUG else ["localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "apps.support.video.apps.VideoConfig",
    "apps.api.apps.ApiConfig",
    "corsheaders",
    "ninja",
    "channels",
]

MIDDLEWARE = [
    "apps.api.middleware.RequestContextMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.api.middleware.ProblemFallbackMiddleware",
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
CORS_EXPOSE_HEADERS = ["location", "x-trace-id", "retry-after", "idempotency-replayed"]

# JSON bodies stay small; sources are streamed (PUT /source, multipart POST), never read whole.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
# Behind a proxy, absolute URLs (upload and asset links) use the host the client used.
USE_X_FORWARDED_HOST = True

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

# Django's own loggers go through structlog's JSON formatter (see src/infrastructure/logging.py).
LOGGING_CONFIG = None
from src.infrastructure.logging import configure_logging  # noqa: E402

configure_logging(level=CONFIG.log_level, worker_id=CONFIG.worker_id)
