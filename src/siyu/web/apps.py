from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "siyu.web"
    label = "web"
    verbose_name = "Web"
