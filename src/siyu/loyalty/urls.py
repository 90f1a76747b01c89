"""Console URLs of loyalty, included under /loyalty/ by siyu.console.urls (namespace `console`)."""

from django.urls import include, path

urlpatterns: list = [
    path("", include(f"siyu.loyalty.{part}.urls"))
    for part in ("points", "coupons", "tiers", "earning", "checkin", "mall")
]
