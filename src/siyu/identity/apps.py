from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "siyu.identity"
    label = "identity"

