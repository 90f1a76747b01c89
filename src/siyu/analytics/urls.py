"""Console URLs of analytics, included under /analytics/ by siyu.console.urls (namespace `console`)."""

from django.urls import path

from siyu.analytics import views

urlpatterns = [
    path("", views.analytics_index, name="analytics_index"),
    path("spend/", views.spend_add, name="analytics_spend_add"),
    path("spend/import/", views.spend_import, name="analytics_spend_import"),
    path("spend/<int:spend_id>/delete/", views.spend_delete, name="analytics_spend_delete"),
    path("customer-lists/", views.customer_list_upload, name="analytics_customer_list"),
    path("<slug:page>/", views.analytics_page, name="analytics"),
]
