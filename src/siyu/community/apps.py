from django.apps import AppConfig


class CommunityConfig(AppConfig):
    name = "siyu.community"
    label = "community"

    def ready(self):
        from siyu.community.archive.actions import run_chat_archive_import_job
        from siyu.community.handover.actions import run_handover_check_job
        from siyu.core.jobs import register_job

        register_job("chat_archive_import", run_chat_archive_import_job)
        register_job("handover_check", run_handover_check_job)
