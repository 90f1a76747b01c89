from django.apps import AppConfig


class LoyaltyConfig(AppConfig):
    name = "siyu.loyalty"
    label = "loyalty"
    verbose_name = "Loyalty"

    def ready(self):
        from siyu.core.jobs import register_job
        from siyu.core.rotation import register_model_field
        from siyu.loyalty import mirror
        from siyu.loyalty.coupons import actions as coupon_actions
        from siyu.loyalty.earning import actions as earning_actions
        from siyu.loyalty.mall.models import MallRedemption
        from siyu.loyalty.points import actions as points_actions
        from siyu.loyalty.tiers import actions as tier_actions
        from siyu.segments.queries import register_builder_words

        register_model_field(MallRedemption, "address_cipher")  # re-encrypted by key rotation
        register_job("points_expiry", points_actions.run_expiry_job)
        register_job("coupon_segment_issue", coupon_actions.run_segment_issue_job)
        register_job("coupon_expiry", coupon_actions.run_expire_coupons_job)
        register_job("coupon_order_match", coupon_actions.run_match_coupon_orders_job)
        register_job("loyalty_earn", earning_actions.run_earn_job)
        register_job("loyalty_birthdays", earning_actions.run_birthday_job)
        register_job("loyalty_tiers", tier_actions.run_tier_job)
        register_job("loyalty_mirror", mirror.run_mirror_job)  # loyalty's rows into the warehouse
        # the words of the warehouse's tier codes and template ids in the segment builder and journey editor
        register_builder_words("tiers", mirror.builder_tiers)
        register_builder_words("coupon_templates", mirror.builder_coupon_templates)

        from siyu.loyalty.points.queries import person_points
        from siyu.privacy.registry import PersonData, register
        from siyu.privacy.registry import copy_word as _w

        # the person's copy of their data (PIPL art. 45)
        register(PersonData("points", _w("Points history"), person_points, {
            "created_at": _w("Time"), "points": _w("Points"), "source": _w("Source"), "account": _w("Account"),
            "reason": _w("Reason"), "source_ref": _w("Reference"), "staff": _w("Handled by"),
            "expires_at": _w("Expires at")}, order=70))  # fmt: skip

        from siyu.loyalty.mall import actions as mall_actions
        from siyu.privacy.erasure import register_person_eraser

        # erasure of a person (PIPL art. 47): what staff wrote about them and where parcels went; points,
        # coupons and redemptions stay with their amounts
        register_person_eraser("loyalty_points", "积分明细（人工调整原因）", points_actions.erase_person_reasons,
                               points_actions.person_reasons_left)  # fmt: skip
        register_person_eraser("loyalty_coupons", "优惠券（作废原因）", coupon_actions.erase_person_reasons,
                               coupon_actions.person_reasons_left)  # fmt: skip
        register_person_eraser("loyalty_mall", "积分商城兑换（收货地址、快递单号、取消原因）",
                               mall_actions.erase_person_addresses, mall_actions.person_addresses_left)  # fmt: skip
