from django.apps import AppConfig


class LoyaltyConfig(AppConfig):
    name = "siyu.loyalty"
    label = "loyalty"
    verbose_name = "Loyalty"

    def ready(self):
        from siyu.core.jobs import register_job
        from siyu.loyalty.points import actions as points_actions

        register_job("points_expiry", points_actions.run_expiry_job)
