from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "siyu.ingest"
    label = "ingest"

    def ready(self):
        from siyu.core.jobs import register_job
        from siyu.ingest import actions

        register_job("purge_rejected", actions.run_purge_rejected_job)
