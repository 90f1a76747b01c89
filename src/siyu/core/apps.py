from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "siyu.core"
    label = "core"
    verbose_name = "Core"

    def ready(self):
        from siyu.core import retention, rotation
        from siyu.core.jobs import register_job

        register_job("rotate_keys", rotation.run_rotation_job)
        register_job("retention", retention.run_retention_job)
        register_job("key_status", rotation.run_status_job)
        register_job("retire_key", rotation.run_retire_job)
        register_retention = retention.register_retention
        register_retention(
            "audit_log", _("audit log"), retention.setting_days("AUDIT_LOG_RETENTION_DAYS"), retention.purge_audit_log,
            minimum_days=retention.AUDIT_LOG_MIN_RETENTION_DAYS,
        )
