from django.apps import AppConfig


class StaffConfig(AppConfig):
    name = "siyu.staff"
    label = "staff"

    def ready(self):
        from siyu.staff import auth  # noqa: F401 - connects the audit of failed sign-ins
