from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "siyu.customers"
    label = "customers"

    def ready(self):
        from siyu.core.rotation import register_model_field
        from siyu.customers.models import ProfileCorrection

        # a corrected name, phone, e-mail…: re-encrypted by key rotation
        register_model_field(ProfileCorrection, "value")
