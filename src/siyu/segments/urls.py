"""Console URLs of segments, included under /segments/ by siyu.console.urls (namespace `console`)."""

from django.urls import path

from siyu.segments import views

urlpatterns = [
    path("", views.segment_list, name="segments"),
    path("new/", views.segment_edit, name="segment_new"),
    path("preview/", views.segment_preview, name="segment_preview"),
    path("schedule/", views.segment_schedule, name="segment_schedule"),
    path("<int:segment_id>/", views.segment_detail, name="segment"),
    path("<int:segment_id>/edit/", views.segment_edit, name="segment_edit"),
    path("<int:segment_id>/refresh/", views.segment_refresh, name="segment_refresh"),
    path("<int:segment_id>/delete/", views.segment_delete, name="segment_delete"),
    path("<int:segment_id>/export/", views.segment_export, name="segment_export"),
]
