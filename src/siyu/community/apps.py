from django.apps import AppConfig


class CommunityConfig(AppConfig):
    name = "siyu.community"
    label = "community"

    def ready(self):
        from siyu.community.archive.actions import run_chat_archive_import_job
        from siyu.core.jobs import register_job

        register_job("chat_archive_import", run_chat_archive_import_job)
