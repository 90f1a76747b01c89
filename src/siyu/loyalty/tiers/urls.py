"""Console URLs of loyalty's tiers part (namespace `console`, under /loyalty/)."""

from django.urls import path

from siyu.loyalty.tiers import views

urlpatterns: list = [path("tiers/", views.tiers, name="loyalty_tiers")]
