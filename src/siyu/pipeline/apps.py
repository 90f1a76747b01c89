from django.apps import AppConfig


class PipelineConfig(AppConfig):
    name = "siyu.pipeline"
    label = "pipeline"
    verbose_name = "Pipeline"

    def ready(self):
        from siyu.core.jobs import register_job
        from siyu.core.signals import records_landed
        from siyu.pipeline import actions, after_records, backup

        # the jobs whose end starts the chain after new records
        register_job("import", actions.run_import_job)
        register_job("resolve", after_records.run_resolve_job)
        register_job("wecom_sync", after_records.run_wecom_sync_job)
        register_job("backup", backup.run_backup_job)
        records_landed.connect(actions.resolve_after_landing, dispatch_uid="siyu.pipeline.resolve_after_landing")
