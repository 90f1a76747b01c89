"""Console URLs of engagement, included under /engagement/ by siyu.console.urls (namespace `console`)."""

from django.urls import path

from siyu.engagement import channel_views, views

urlpatterns = [
    path("outbox/", views.outbox, name="engagement_outbox"),
    path("channels/", views.channels, name="engagement_channels"),
    path("policy/", views.policy, name="engagement_policy"),
    path("wecom/callback/", views.wecom_callback, name="engagement_wecom_callback"),
    # --- channel adapters (channel_views) ---
    path("wecom/sync/", channel_views.wecom_sync, name="engagement_wecom_sync"),
    path(
        "sms/<str:provider>/<str:token>/<str:kind>/",
        channel_views.sms_push,
        name="engagement_sms_push",
    ),
]
