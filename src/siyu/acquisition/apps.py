from django.apps import AppConfig


class AcquisitionConfig(AppConfig):
    name = "siyu.acquisition"
    label = "acquisition"

    def ready(self):
        from siyu.acquisition.actions import handle_live_code_add
        from siyu.acquisition.labels import CHANNELS
        from siyu.acquisition.queries import attribution_of_codes, quality_of_codes
        from siyu.analytics.live_codes import (
            register_code_attribution,
            register_code_channel_labels,
            register_code_quality,
        )
        from siyu.engagement.messaging.callbacks import register_wecom_event_handler

        # an add through a live code: its welcome, attribution and tags (the callback view calls it)
        register_wecom_event_handler(handle_live_code_add)
        # the codes' quality in the funnel, traffic map and channel ROI pages (analytics sits below us)
        register_code_quality(quality_of_codes)
        register_code_attribution(attribution_of_codes)
        register_code_channel_labels(CHANNELS)
