from django.apps import AppConfig


class EngagementConfig(AppConfig):
    name = "siyu.engagement"
    label = "engagement"

    def ready(self):
        from siyu.analytics.queries import register_operation_names
        from siyu.engagement.guides.queries import batch_names

        # the touch grid names a guide-task operation by its batch
        register_operation_names("task", batch_names)

        from siyu.core.jobs import register_job
        from siyu.engagement.journeys.actions import run_points_handoffs_job

        # journeys' points hand-offs no tick took yet become ledger entries (the tick takes them too)
        register_job("journey_points", run_points_handoffs_job)

        from siyu.core.rotation import register_model_field
        from siyu.engagement.messaging.models import ChannelAccount

        register_model_field(ChannelAccount, "secrets")  # re-encrypted by key rotation

        from django.utils.translation import gettext_lazy as _

        from siyu.core.retention import register_retention, setting_days
        from siyu.warehouse.retention import delete_older_than

        register_retention(
            "touches", _("touches (messages sent)"), setting_days("TOUCHES_RETENTION_DAYS"),
            lambda cut_off, dry_run: delete_older_than("touches", cut_off, dry_run=dry_run),
        )
