from django.apps import AppConfig


class EngagementConfig(AppConfig):
    name = "siyu.engagement"
    label = "engagement"

    def ready(self):
        from siyu.analytics.queries import register_operation_names
        from siyu.engagement.guides.queries import batch_names

        # the touch grid names a guide-task operation by its batch
        register_operation_names("task", batch_names)
