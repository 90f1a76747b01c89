"""Console URLs of loyalty's points part (namespace `console`, under /loyalty/)."""

from django.urls import path

from siyu.loyalty.points import views

urlpatterns: list = [
    path("points/", views.points_overview, name="loyalty_points"),
    path("points/customers/<int:customer_id>/", views.customer_points, name="loyalty_points_customer"),
    path("points/customers/<int:customer_id>/adjust/", views.customer_points_adjust,
         name="loyalty_points_adjust"),
]
