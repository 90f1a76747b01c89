"""Console URLs of integrations, included under /settings/integrations/ by siyu.console.urls."""

from django.urls import path

from siyu.integrations import views

urlpatterns = [
    path("", views.subscriptions_page, name="integrations_subscriptions"),
    path("<int:subscription_id>/", views.subscription_page, name="integrations_subscription"),
    path("<int:subscription_id>/do/", views.subscription_action, name="integrations_subscription_action"),
    path("deliveries/<int:delivery_id>/redeliver/", views.redeliver, name="integrations_redeliver"),
]
