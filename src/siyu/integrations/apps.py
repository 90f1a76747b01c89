from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "siyu.integrations"
    label = "integrations"

    def ready(self):
        from siyu.integrations.actions import schedule_delivery_soon
        from siyu.outbox.actions import on_events_recorded

        on_events_recorded(schedule_delivery_soon)
