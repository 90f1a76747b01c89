from django.apps import AppConfig


class CommunityConfig(AppConfig):
    name = "siyu.community"
    label = "community"
