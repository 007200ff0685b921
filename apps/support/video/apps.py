from django.apps import AppConfig


class VideoConfig(AppConfig):
    name = "apps.support.video"
    label = "video"
    verbose_name = "Lecture videos"
    default_auto_field = "django.db.models.BigAutoField"
