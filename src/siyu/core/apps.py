from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "siyu.core"
    label = "core"
    verbose_name = "Core"
