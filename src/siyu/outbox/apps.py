from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "siyu.outbox"
    label = "outbox"
