from django.apps import AppConfig


class AcquisitionConfig(AppConfig):
    name = "siyu.acquisition"
    label = "acquisition"

    def ready(self):
        from siyu.acquisition.actions import handle_live_code_add
        from siyu.acquisition.labels import EVENT_TYPES
        from siyu.customers.labels import EVENT_TYPES as CUSTOMER_EVENT_TYPES
        from siyu.engagement.messaging.callbacks import register_wecom_event_handler

        # an add through a live code: its welcome, attribution and tags (the callback view calls it)
        register_wecom_event_handler(handle_live_code_add)
        # the warehouse event this app writes, in the words the timeline, segments and journeys show
        CUSTOMER_EVENT_TYPES.update(EVENT_TYPES)
