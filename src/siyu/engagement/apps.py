from django.apps import AppConfig


class EngagementConfig(AppConfig):
    name = "siyu.engagement"
    label = "engagement"

    def ready(self):
        from siyu.analytics.queries import register_operation_names
        from siyu.engagement.guides.queries import batch_names

        # the touch grid names a guide-task operation by its batch
        register_operation_names("task", batch_names)

        from siyu.core.jobs import register_job
        from siyu.engagement.journeys.actions import run_points_handoffs_job

        # journeys' points hand-offs no tick took yet become ledger entries (the tick takes them too)
        register_job("journey_points", run_points_handoffs_job)

        from siyu.core.rotation import register_model_field
        from siyu.engagement.messaging.models import ChannelAccount

        register_model_field(ChannelAccount, "secrets")  # re-encrypted by key rotation

        from django.utils.translation import gettext_lazy as _

        from siyu.core.retention import register_retention, setting_days
        from siyu.warehouse.retention import delete_older_than

        register_retention(
            "touches", _("touches (messages sent)"), setting_days("TOUCHES_RETENTION_DAYS"),
            lambda cut_off, dry_run: delete_older_than("touches", cut_off, dry_run=dry_run),
        )

        from siyu.engagement.guides.queries import person_tasks
        from siyu.engagement.messaging.queries import person_sends
        from siyu.privacy.registry import PersonData, register
        from siyu.privacy.registry import copy_word as _w

        # the person's copy of their data (PIPL art. 45): what was sent to them, what guides were asked to do
        register(PersonData("touches", _w("Messages sent"), person_sends, {
            "channel": _w("Channel"), "source": _w("Sent from"), "marketing": _w("Marketing message"),
            "template": _w("Template"), "subject": _w("Subject"), "content": _w("Text"), "variables": _w("Variables"),
            "status": _w("Status"), "scheduled_at": _w("Scheduled at"), "sent_at": _w("Sent at")},
            order=65))  # fmt: skip
        register(PersonData("guide_tasks", _w("Guide tasks"), person_tasks, {
            "batch": _w("Task"), "guide": _w("Guide"), "status": _w("Status"), "message": _w("Script"),
            "due_at": _w("Due at"), "contacted_at": _w("Contacted at"), "outcome": _w("Outcome"),
            "note": _w("Guide's note")}, order=80))  # fmt: skip

        from siyu.engagement.guides.actions import erase_person_tasks, person_tasks_left
        from siyu.engagement.messaging.actions import erase_person_sends, person_sends_left
        from siyu.privacy.erasure import register_person_eraser

        # erasure of a person (PIPL art. 47): the words sent to them and written for them; the sends and
        # tasks stay for counts and caps. Journeys' enrollments and hand-offs hold no words about a person
        # (a hand-off carries its step's text, the same for everyone).
        register_person_eraser("sends", "触达消息（内容、变量；等待中的停止发送；企业微信转接记录）", erase_person_sends,
                               person_sends_left)  # fmt: skip
        register_person_eraser("guide_tasks", "导购任务（话术、导购备注）", erase_person_tasks, person_tasks_left)
