"""Console URLs of loyalty's checkin part (namespace `console`, under /loyalty/)."""

from django.urls import path

from siyu.loyalty.checkin import views

urlpatterns: list = [
    path("checkin/", views.checkin, name="loyalty_checkin"),
    path("checkin/rules/<int:rule_id>/", views.checkin_rule, name="loyalty_checkin_rule"),
]
