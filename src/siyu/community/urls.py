"""Console URLs of community, included under /community/ by siyu.console.urls (namespace `console`)."""

from django.urls import path

from siyu.community.archive import views as archive
from siyu.community.groups import views as group_views
from siyu.community.handover import views as handover

urlpatterns: list = [
    path("groups/", group_views.groups, name="community_groups"),
    path("groups/health/", group_views.group_health, name="community_group_health"),
    path("groups/<int:group_id>/", group_views.group, name="community_group"),
    path("groups/codes/", group_views.group_codes, name="community_group_codes"),
    path("groups/codes/<int:code_id>/", group_views.group_code, name="community_group_code"),
    path("groups/welcome/", group_views.group_welcomes, name="community_group_welcomes"),
    path("groups/welcome/<int:template_id>/delete/", group_views.group_welcome_delete,
         name="community_group_welcome_delete"),
    path("groups/messages/", group_views.group_messages, name="community_group_messages"),
    path("chat-insights/", archive.chat_insights, name="community_chat_insights"),
    path("sensitive-words/", archive.sensitive_words, name="community_sensitive_words"),
    path("sensitive-words/rules/", archive.rule_save, name="community_rule_save"),
    path("sensitive-words/rules/<int:rule_id>/delete/", archive.rule_delete, name="community_rule_delete"),
    path("sensitive-words/rescan/", archive.rules_rescan, name="community_rules_rescan"),
    path("sensitive-words/alerts/<int:alert_id>/handle/", archive.alert_handle, name="community_alert_handle"),
    path("chat-archive/import/", archive.archive_import, name="community_archive_import"),
    path("handovers/", handover.handover_list, name="community_handovers"),
    path("handovers/start/", handover.handover_start, name="community_handover_start"),
    path("handovers/check/", handover.handover_check, name="community_handover_check"),
    path("handovers/<int:handover_id>/", handover.handover_detail, name="community_handover"),
]
