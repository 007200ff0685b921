from django.apps import AppConfig


class CaptionsConfig(AppConfig):
    name = "apps.support.captions"
    label = "captions"
    verbose_name = "Captions"
    default_auto_field = "django.db.models.BigAutoField"
