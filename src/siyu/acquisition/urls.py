"""Console URLs of acquisition, included under /acquisition/ by siyu.console.urls (namespace `console`)."""

from django.urls import path

from siyu.acquisition import views

urlpatterns = [
    path("", views.code_list, name="acquisition_codes"),
    path("new/", views.code_new, name="acquisition_code_new"),
    path("store-codes/", views.store_codes, name="acquisition_store_codes"),
    path("quality/", views.quality, name="acquisition_quality"),
    path("my-code/", views.my_code, name="acquisition_my_code"),
    path("<int:code_id>/", views.code_detail, name="acquisition_code"),
    path("<int:code_id>/edit/", views.code_edit, name="acquisition_code_edit"),
    path("<int:code_id>/archive/", views.code_archive, name="acquisition_code_archive"),
    path("<int:code_id>/qr.png", views.code_qr, name="acquisition_code_qr"),
    path("<int:code_id>/poster/", views.code_poster, name="acquisition_code_poster"),
]
