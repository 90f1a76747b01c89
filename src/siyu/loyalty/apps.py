from django.apps import AppConfig


class LoyaltyConfig(AppConfig):
    name = "siyu.loyalty"
    label = "loyalty"
    verbose_name = "Loyalty"

    def ready(self):
        from siyu.core.jobs import register_job
        from siyu.loyalty.earning import actions as earning_actions
        from siyu.loyalty.points import actions as points_actions
        from siyu.loyalty.tiers import actions as tier_actions

        register_job("points_expiry", points_actions.run_expiry_job)
        register_job("loyalty_earn", earning_actions.run_earn_job)
        register_job("loyalty_birthdays", earning_actions.run_birthday_job)
        register_job("loyalty_tiers", tier_actions.run_tier_job)
