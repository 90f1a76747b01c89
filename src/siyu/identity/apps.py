from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "siyu.identity"
    label = "identity"

    def ready(self):
        from siyu.core.jobs import register_job
        from siyu.identity import actions

        register_job("export", actions.run_export_job)
