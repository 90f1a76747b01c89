"""Console URLs of the API's token page, mounted under /settings/api-tokens/ in the console's namespace
(`console`) by siyu.project.urls."""

from django.urls import path

from siyu.api import views

urlpatterns = [
    path("", views.tokens_page, name="api_tokens"),
    path("<int:token_id>/revoke/", views.revoke, name="api_token_revoke"),
]
