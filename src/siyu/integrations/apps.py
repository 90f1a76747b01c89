from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "siyu.integrations"
    label = "integrations"

    def ready(self):
        from siyu.integrations.actions import schedule_delivery_soon
        from siyu.outbox.actions import on_events_recorded

        on_events_recorded(schedule_delivery_soon)

        from django.utils.translation import gettext_lazy as _

        from siyu.core.retention import register_retention, setting_days
        from siyu.integrations.actions import purge_finished_deliveries, purge_finished_events

        register_retention(
            "event_deliveries",
            _("event deliveries and their attempts"),
            setting_days("EVENT_DELIVERIES_RETENTION_DAYS"),
            purge_finished_deliveries,
        )
        # siyu.outbox's table, purged here: only this app knows whether an event's deliveries are finished
        register_retention(
            "outbound_events",
            _("recorded outbound events"),
            setting_days("OUTBOUND_EVENTS_RETENTION_DAYS"),
            purge_finished_events,
        )

        from siyu.core.rotation import register_model_field
        from siyu.integrations.models import Subscription

        register_model_field(Subscription, "secret_cipher")  # re-encrypted by key rotation
