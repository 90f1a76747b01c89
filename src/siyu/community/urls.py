"""Console URLs of community, included under /community/ by siyu.console.urls (namespace `console`)."""

from django.urls import path

from siyu.community.groups import views as group_views

urlpatterns: list = [
    path("groups/", group_views.groups, name="community_groups"),
    path("groups/health/", group_views.group_health, name="community_group_health"),
    path("groups/<int:group_id>/", group_views.group, name="community_group"),
]
