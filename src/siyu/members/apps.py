from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "siyu.members"
    label = "members"
