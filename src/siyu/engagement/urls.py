"""Console URLs of engagement, included under /engagement/ by siyu.console.urls (namespace `console`)."""

from django.urls import path

from siyu.engagement.content import views as content_views
from siyu.engagement.guides import views as guide_views
from siyu.engagement.journeys import views as journey_views
from siyu.engagement.messaging import channel_views
from siyu.engagement.messaging import views as messaging_views

urlpatterns = [
    path("outbox/", messaging_views.outbox, name="engagement_outbox"),
    path("channels/", messaging_views.channels, name="engagement_channels"),
    path("policy/", messaging_views.policy, name="engagement_policy"),
    path("journeys/", journey_views.journeys, name="journeys"),
    path("journeys/new/", journey_views.journey_edit, name="journey_new"),
    path("journeys/<int:journey_id>/", journey_views.journey, name="journey"),
    path("journeys/<int:journey_id>/edit/", journey_views.journey_edit, name="journey_edit"),
    path("journeys/<int:journey_id>/step-fields/", journey_views.journey_step_fields, name="journey_step_fields"),
    path("journeys/<int:journey_id>/lift/", journey_views.journey_lift, name="journey_lift"),
    path("wecom/callback/", messaging_views.wecom_callback, name="engagement_wecom_callback"),
    # content library and guide tasks
    path("content/", content_views.content_library, name="engagement_content"),
    path("content/scripts/", content_views.script_add, name="engagement_script_add"),
    path("content/scripts/<int:script_id>/archive/", content_views.script_archive, name="engagement_script_archive"),
    path("content/materials/", content_views.material_add, name="engagement_material_add"),
    path("content/materials/<int:material_id>/archive/", content_views.material_archive,
         name="engagement_material_archive"),
    path("content/materials/<int:material_id>/image/", content_views.material_image,
         name="engagement_material_image"),
    path("tasks/", guide_views.task_list, name="engagement_tasks"),
    path("tasks/new/", guide_views.task_create, name="engagement_task_create"),
    path("tasks/<int:task_id>/complete/", guide_views.task_complete, name="engagement_task_complete"),
    path("tasks/batches/<int:batch_id>/cancel/", guide_views.batch_cancel, name="engagement_batch_cancel"),
    path("tasks/reassign/", guide_views.tasks_reassign, name="engagement_tasks_reassign"),
    path("tasks/report/", guide_views.guide_report, name="engagement_guide_report"),
    # the channel adapters' pages
    path("wecom/sync/", channel_views.wecom_sync, name="engagement_wecom_sync"),
    path("wecom/customers/<int:customer_id>/tag/", channel_views.wecom_tag, name="engagement_wecom_tag"),
    path("wecom/customers/<int:customer_id>/transfer/", channel_views.wecom_transfer,
         name="engagement_wecom_transfer"),
    path(
        "sms/<str:provider>/<str:token>/<str:kind>/",
        channel_views.sms_push,
        name="engagement_sms_push",
    ),
]  # fmt: skip
