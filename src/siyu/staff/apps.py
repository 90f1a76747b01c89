from django.apps import AppConfig


class StaffConfig(AppConfig):
    name = "siyu.staff"
    label = "staff"
