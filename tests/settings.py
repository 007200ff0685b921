"""Test settings: the real PostgreSQL as `default`, plus an `sqlite` alias for contract tests."""

from __future__ import annotations

import os
import tempfile

from academy.config import DEVELOPMENT_ENV

# Development values, set explicitly: with nothing set the settings refuse to start (no
# secret key, no pepper, debug off). The processes the tests start inherit them.
for _name, _value in DEVELOPMENT_ENV.items():
    os.environ.setdefault(_name, _value)
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
os.environ.setdefault("VIDEO_MAX_ATTEMPTS", "3")
# Redis pub/sub ignores database numbers: live events of parallel runs stay apart by prefix.
os.environ.setdefault("VIDEO_LIVE_CHANNEL_PREFIX", f"academy-video-test-{os.getpid()}")
# Generous per-key limits: only the rate-limit tests, which build their own limiter, hit them.
os.environ.setdefault("VIDEO_API_RATE_PER_SECOND", "1000")
os.environ.setdefault("VIDEO_API_RATE_BURST", "10000")
# Parallel runs share Redis and the client address: only the throttle's own tests (their own
# throttle, their own prefix) reach a failure limit.
os.environ.setdefault("VIDEO_AUTH_FAILURES_PER_WINDOW", "10000")

from academy.settings import *  # noqa: E402, F403
from academy.settings import DATABASES  # noqa: E402

# One test database per run, so parallel runs on one server never collide.
DATABASES["default"].setdefault("TEST", {})["NAME"] = f"test_academy_{os.getpid()}"

DATABASES["sqlite"] = {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": os.path.join(tempfile.gettempdir(), f"academy-contract-{os.getpid()}.sqlite3"),
    "OPTIONS": {"timeout": 30},
    "TEST": {
        "NAME": os.path.join(tempfile.gettempdir(), f"academy-contract-test-{os.getpid()}.sqlite3")
    },
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
