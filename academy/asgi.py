"""The ASGI entry (`uvicorn academy.asgi:application`): Django behind the body-size guard."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "academy.settings")
django_application = get_asgi_application()

from django.conf import settings  # noqa: E402 - Django is set up by the line above

from apps.api.body_limits import BodyLimitMiddleware  # noqa: E402

application = BodyLimitMiddleware(django_application, settings.CONFIG.max_source_bytes)
