from django.apps import AppConfig


class EngagementConfig(AppConfig):
    name = "siyu.engagement"
    label = "engagement"
