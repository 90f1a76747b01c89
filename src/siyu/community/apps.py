from django.apps import AppConfig


class CommunityConfig(AppConfig):
    name = "siyu.community"
    label = "community"

    def ready(self):
        from siyu.community.groups import actions as group_actions
        from siyu.core.jobs import register_job
        from siyu.engagement.messaging.callbacks import register_wecom_event_handler

        register_job("group_sync", group_actions.run_group_sync_job)
        register_wecom_event_handler(group_actions.record_group_change)
