"""Models of this part of community (gathered in siyu.community.models): WeCom customer groups and their
members (one row per stay in a group, so a leave and a rejoin are both kept), group codes (join ways) with
the history of the groups they pointed at, group welcome templates and group mass messages.

Daily size, joins and leaves are not stored as counters: they are counted from the stays, mirrored into the
warehouse table `group_members` (one definition; a counter kept beside it could drift), see queries.py."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from siyu.staff.models import Role

# Who reads group health (the groups' leave rates and GMV) and who makes group codes and welcome messages
HEALTH_ROLES = (Role.ADMIN, Role.OPERATOR, Role.MANAGER)
CODE_ROLES = (Role.ADMIN, Role.OPERATOR)

# GroupMember.quit_scene of the stays a group's dismissal closed: not a leave of the member's own (WeCom's
# QuitScene is 0 left by themselves, 1 removed by the owner or an admin)
DISMISSED_SCENE = 9


class GroupType(models.TextChoices):
    WELFARE = "welfare"
    VIP = "vip"
    PRODUCT = "product"
    CITY = "city"
    OTHER = "other"


class GroupStatus(models.TextChoices):
    # groupchat/list's status: 0 normal, 1 owner resigned, 2 inheriting, 3 inherited; and dismissed
    ACTIVE = "active"
    OWNER_RESIGNED = "owner_resigned"
    INHERITING = "inheriting"
    INHERITED = "inherited"
    DISMISSED = "dismissed"


class CustomerGroup(models.Model):
    chat_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True)
    owner_userid = models.CharField(max_length=64, blank=True, db_index=True)
    owner = models.ForeignKey("staff.StaffProfile", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="customer_groups")  # fmt: skip
    store = models.ForeignKey("staff.Store", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="customer_groups")  # fmt: skip
    group_type = models.CharField(max_length=16, choices=GroupType.choices, default=GroupType.OTHER, db_index=True)
    tags = models.JSONField(default=list, blank=True)  # operator labels, e.g. ["上海", "门店福利"]
    status = models.CharField(max_length=16, choices=GroupStatus.choices, default=GroupStatus.ACTIVE, db_index=True)
    notice = models.TextField(blank=True)
    member_count = models.PositiveIntegerField(default=0)
    member_version = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(null=True, blank=True)  # in WeCom
    dismissed_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "member_count"])]

    def __str__(self):
        return self.name or self.chat_id


class GroupMember(models.Model):
    """One stay of a member in a group: `left_at` empty while they are in it. `member_id` is a staff
    userid or a customer's external_userid."""

    group = models.ForeignKey(CustomerGroup, on_delete=models.CASCADE, related_name="members")
    member_id = models.CharField(max_length=64)
    is_staff = models.BooleanField(default=False)
    unionid = models.CharField(max_length=64, blank=True)
    joined_at = models.DateTimeField(null=True, blank=True)
    join_scene = models.PositiveSmallIntegerField(null=True, blank=True)  # 1 invited, 2 invite link, 3 QR code
    inviter = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=30, blank=True)  # the join way's state it came through
    left_at = models.DateTimeField(null=True, blank=True)
    quit_scene = models.PositiveSmallIntegerField(null=True, blank=True)  # 0 left, 1 removed
    customer_id = models.BigIntegerField(null=True, blank=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "member_id"], condition=Q(left_at=None),
                                    name="one_open_stay_per_group_member"),  # fmt: skip
        ]
        indexes = [models.Index(fields=["member_id"]), models.Index(fields=["group", "left_at"])]


class GroupCode(models.Model):
    """A group code (群活码): a WeCom join way pointing at up to 5 groups; the code is rotated off groups
    reaching `rotate_at` members onto groups with room (WeCom lets only invitations in past 200)."""

    name = models.CharField(max_length=100)
    config_id = models.CharField(max_length=64, blank=True, db_index=True)
    qr_url = models.URLField(max_length=500, blank=True)
    state = models.CharField(max_length=30, blank=True)
    remark = models.CharField(max_length=30, blank=True)
    group_type = models.CharField(max_length=16, choices=GroupType.choices, blank=True)  # "" any type
    groups = models.ManyToManyField(CustomerGroup, through="GroupCodeSlot", related_name="group_codes")
    auto_create_room = models.BooleanField(default=True)
    room_base_name = models.CharField(max_length=40, blank=True)
    room_base_id = models.PositiveIntegerField(default=1)
    rotate_at = models.PositiveSmallIntegerField(default=195)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")  # fmt: skip

    def __str__(self):
        return self.name

    def current_groups(self) -> list[CustomerGroup]:
        return [s.group for s in self.slots.filter(removed_at=None).select_related("group").order_by("position")]


class GroupCodeSlot(models.Model):
    """A group a code points at (removed_at empty) or pointed at (rotated off, or taken off by an operator)."""

    code = models.ForeignKey(GroupCode, on_delete=models.CASCADE, related_name="slots")
    group = models.ForeignKey(CustomerGroup, on_delete=models.CASCADE, related_name="code_slots")
    position = models.PositiveSmallIntegerField(default=0)
    added_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_because = models.CharField(max_length=16, blank=True)  # "full" (rotation) or "edited"

    class Meta:
        indexes = [models.Index(fields=["code", "removed_at"])]


class GroupWelcomeTemplate(models.Model):
    """入群欢迎语: text and one library material, registered in WeCom (template_id), chosen in WeCom's
    group settings."""

    name = models.CharField(max_length=100)
    text = models.TextField(blank=True)
    material = models.ForeignKey("engagement.Material", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")  # fmt: skip
    template_id = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.name


class GroupMessage(models.Model):
    """A group mass message: one WeCom task per owner (msgids: {owner userid: msgid}), each sent to that
    owner's chosen groups once they confirm it in WeCom. `groups`: the groups it went to; `refused`: the
    chosen groups the contact policy left out ({chat id: reason of siyu.engagement.messaging.policy.REASONS});
    a message refused whole keeps its groups in `refused` only. `sent_at`: the time the policy decided at,
    which WeCom's per-group limit counts."""

    text = models.TextField(blank=True)
    material = models.ForeignKey("engagement.Material", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")  # fmt: skip
    groups = models.ManyToManyField(CustomerGroup, related_name="messages")
    msgids = models.JSONField(default=dict)
    failures = models.JSONField(default=dict)  # {owner userid: why}
    refused = models.JSONField(default=dict, blank=True)  # {chat id: contact-policy reason}
    sent_at = models.DateTimeField(default=timezone.now, db_index=True)
    # identified customers of the groups it went to: reachable, and those whose wecom/all opt-out (or missing
    # required opt-in) keeps them from counting as reached (WeCom cannot leave one member out)
    customers_reached = models.PositiveIntegerField(default=0)
    customers_opted_out = models.PositiveIntegerField(default=0)
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
