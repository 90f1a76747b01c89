"""Console URLs of loyalty's coupons part (namespace `console`, under /loyalty/)."""

from django.urls import path

from siyu.loyalty.coupons import views

urlpatterns: list = [
    path("coupons/", views.templates, name="loyalty_coupon_templates"),
    path("coupons/new/", views.template_edit, name="loyalty_coupon_template_new"),
    path("coupons/<int:template_id>/", views.template, name="loyalty_coupon_template"),
    path("coupons/<int:template_id>/edit/", views.template_edit, name="loyalty_coupon_template_edit"),
    path("coupons/<int:template_id>/issue/", views.template_issue, name="loyalty_coupon_template_issue"),
    path("coupons/lookup/", views.lookup, name="loyalty_coupon_lookup"),
    path("coupons/lookup/void/", views.void, name="loyalty_coupon_void"),
]
