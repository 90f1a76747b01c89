"""Console URLs of acquisition, included under /acquisition/ by siyu.console.urls (namespace `console`)."""

from django.urls import path

from siyu.acquisition import views

urlpatterns = [
    path("", views.code_list, name="acquisition_codes"),
    path("<int:code_id>/", views.code_detail, name="acquisition_code"),
]
