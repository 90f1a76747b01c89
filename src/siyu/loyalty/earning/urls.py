"""Console URLs of loyalty's earning part (namespace `console`, under /loyalty/)."""

from django.urls import path

from siyu.loyalty.earning import views

urlpatterns: list = [path("earning/", views.earn_rules, name="loyalty_earning")]
