"""Console URLs of privacy, included under /privacy/ by siyu.console.urls (namespace `console`)."""

from django.urls import path

from siyu.privacy import views

urlpatterns = [
    path("requests/", views.requests_queue, name="privacy_requests"),
    path("requests/new/", views.request_new, name="privacy_request_new"),
    path("requests/<int:request_id>/", views.request_page, name="privacy_request"),
    path("requests/<int:request_id>/move/", views.request_move, name="privacy_request_move"),
    path("requests/<int:request_id>/copy/", views.request_copy, name="privacy_request_copy"),
    path("requests/<int:request_id>/correct/", views.request_correct, name="privacy_request_correct"),
]
