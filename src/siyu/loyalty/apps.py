from django.apps import AppConfig


class LoyaltyConfig(AppConfig):
    name = "siyu.loyalty"
    label = "loyalty"
    verbose_name = "Loyalty"

    def ready(self):
        from siyu.core.jobs import register_job
        from siyu.loyalty.coupons import actions as coupon_actions
        from siyu.loyalty.earning import actions as earning_actions
        from siyu.loyalty.points import actions as points_actions
        from siyu.loyalty.tiers import actions as tier_actions

        register_job("points_expiry", points_actions.run_expiry_job)
        register_job("coupon_segment_issue", coupon_actions.run_segment_issue_job)
        register_job("coupon_expiry", coupon_actions.run_expire_coupons_job)
        register_job("coupon_order_match", coupon_actions.run_match_coupon_orders_job)
        register_job("loyalty_earn", earning_actions.run_earn_job)
        register_job("loyalty_birthdays", earning_actions.run_birthday_job)
        register_job("loyalty_tiers", tier_actions.run_tier_job)
