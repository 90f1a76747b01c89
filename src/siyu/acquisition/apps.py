from django.apps import AppConfig


class AcquisitionConfig(AppConfig):
    name = "siyu.acquisition"
    label = "acquisition"

    def ready(self):
        from siyu.acquisition.actions import handle_live_code_add
        from siyu.engagement.messaging.callbacks import register_wecom_event_handler

        # an add through a live code: its welcome, attribution and tags (the callback view calls it)
        register_wecom_event_handler(handle_live_code_add)
