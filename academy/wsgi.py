import os

from django.core.wsgi import get_wsgi_application

from academy.config import exit_on_config_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "academy.settings")
exit_on_config_error()
application = get_wsgi_application()
