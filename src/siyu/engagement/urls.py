"""Console URLs of engagement, included under /engagement/ by siyu.console.urls (namespace `console`)."""

from django.urls import path

from siyu.engagement import views

urlpatterns = [
    path("outbox/", views.outbox, name="engagement_outbox"),
    path("channels/", views.channels, name="engagement_channels"),
    path("policy/", views.policy, name="engagement_policy"),
    path("journeys/", views.journeys, name="journeys"),
    path("journeys/new/", views.journey_edit, name="journey_new"),
    path("journeys/<int:journey_id>/", views.journey, name="journey"),
    path("journeys/<int:journey_id>/edit/", views.journey_edit, name="journey_edit"),
    path("journeys/<int:journey_id>/step-fields/", views.journey_step_fields, name="journey_step_fields"),
    path("journeys/<int:journey_id>/lift/", views.journey_lift, name="journey_lift"),
    path("wecom/callback/", views.wecom_callback, name="engagement_wecom_callback"),
]
