from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "siyu.privacy"
    label = "privacy"

    def ready(self):
        from siyu.privacy.sections import register_sections

        # what the domains below privacy hold about a person; the domains above register theirs
        register_sections()
