from django.apps import AppConfig


class CommunityConfig(AppConfig):
    name = "siyu.community"
    label = "community"

    def ready(self):
        from siyu.community.archive.actions import run_chat_archive_import_job
        from siyu.community.archive.rooms import register_room_lookups
        from siyu.community.groups import actions as group_actions
        from siyu.community.groups import queries as group_queries
        from siyu.community.groups.labels import GROUP_TYPES
        from siyu.community.handover.actions import register_resigned_groups_lookup, run_handover_check_job
        from siyu.core.jobs import register_job
        from siyu.engagement.messaging.callbacks import register_wecom_event_handler
        from siyu.segments.queries import register_builder_words

        register_job("chat_archive_import", run_chat_archive_import_job)

        from django.utils.translation import gettext_lazy as _

        from siyu.core.retention import register_retention, setting_days
        from siyu.warehouse.retention import delete_older_than

        register_retention(
            "chat_archive", _("chat archive messages"), setting_days("CHAT_ARCHIVE_RETENTION_DAYS"),
            lambda cut_off, dry_run: delete_older_than("chat_messages", cut_off, dry_run=dry_run),
        )
        register_job("handover_check", run_handover_check_job)
        register_job("group_sync", group_actions.run_group_sync_job)
        register_wecom_event_handler(group_actions.record_group_change)
        register_builder_words("group_types", GROUP_TYPES)  # the segment builder's customer-group condition
        # the archive and handover parts ask the groups part through lookups (they work without groups too)
        register_room_lookups(owners=group_queries.owners_of_chats, types=group_queries.types_of_chats)
        register_resigned_groups_lookup(group_queries.chats_owned_by)

        from siyu.community.archive.actions import erase_person_messages, person_messages_left
        from siyu.community.archive.queries import person_messages
        from siyu.privacy.erasure import register_person_eraser
        from siyu.privacy.registry import PersonData, register
        from siyu.privacy.registry import copy_word as _w

        # the person's copy of their data (PIPL art. 45): their archived chat messages
        register(PersonData("chat_messages", _w("Archived chat messages"), person_messages, {
            "sent_at": _w("Time"), "from_me": _w("Sent by the person"), "sender": _w("Sender"),
            "room_id": _w("Group chat"), "msgtype": _w("Message type"), "text": _w("Text"), "action": _w("Action")},
            order=85))  # fmt: skip
        from siyu.community.handover import actions as handover_actions

        # erasure of a person (PIPL art. 47): their ids and words in the chat archive and its alerts, their
        # ids in group stays and handovers (the rows stay for the counts, under one pseudonym)
        register_person_eraser("chat_archive", "会话存档（消息发送人、内容，敏感词提醒）", erase_person_messages,
                               person_messages_left)  # fmt: skip
        register_person_eraser("group_members", "客户群成员记录（外部联系人编号、邀请人）",
                               group_actions.erase_person_stays, group_actions.person_stays_left)  # fmt: skip
        register_person_eraser("handover", "离职继承记录（外部联系人编号）", handover_actions.erase_person_items,
                               handover_actions.person_items_left)  # fmt: skip
