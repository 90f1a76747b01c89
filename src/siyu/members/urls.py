"""The member centre's URLs, mounted at /m/ by siyu.project.urls (namespace `members`)."""

from django.urls import path

from siyu.members import loyalty_views, survey_views, views

app_name = "members"

urlpatterns = [
    path("", views.home, name="home"),
    path("sign-in/", views.sign_in, name="sign_in"),
    path("sign-out/", views.sign_out, name="sign_out"),
    path("auth/wechat/", views.wechat_start, name="wechat"),
    path("auth/wechat/callback/", views.wechat_callback, name="wechat_callback"),
    path("auth/link/", views.link, name="link"),
    path("privacy/", views.privacy, name="privacy"),
    path("privacy/consent/", views.privacy_consent, name="privacy_consent"),
    path("privacy/request/", views.privacy_request, name="privacy_request"),
    path("points/", loyalty_views.points, name="points"),
    path("checkin/", loyalty_views.checkin, name="checkin"),
    path("mall/", loyalty_views.mall, name="mall"),
    path("mall/<int:item_id>/", loyalty_views.mall_item, name="mall_item"),
    path("mall/redemptions/<int:redemption_id>/", loyalty_views.redemption, name="redemption"),
    path("coupons/", loyalty_views.coupons, name="coupons"),
    path("coupons/<int:coupon_id>/", loyalty_views.coupon, name="coupon"),
    path("surveys/", survey_views.surveys, name="surveys"),
    path("surveys/<int:survey_id>/", survey_views.survey, name="survey"),
]
