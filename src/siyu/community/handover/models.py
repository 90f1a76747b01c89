"""Models of this part of community (gathered in siyu.community.models): handovers of a staff member's
customers and groups to another (离职继承 of a resigned member; 在职 transfers made through this path too)
and WeCom's outcome for each customer or group."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from siyu.staff.models import StaffProfile


class Handover(models.Model):
    class Kind(models.TextChoices):
        RESIGNED = "resigned", _("Resigned member's handover")
        ON_JOB = "on_job", _("Transfer between staff")

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.RESIGNED)
    handover_userid = models.CharField(max_length=64, db_index=True)
    takeover = models.ForeignKey(StaffProfile, on_delete=models.PROTECT, related_name="handovers_taken")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")  # fmt: skip
    requested_at = models.DateTimeField()
    settled_at = models.DateTimeField(null=True, blank=True)  # every item has its final outcome

    class Meta:
        ordering = ["-requested_at", "-pk"]


class HandoverItem(models.Model):
    """One customer (external_userid) or group (chat_id) of a handover. `status` is WeCom's 接替状态 (1 接替完毕,
    2 等待接替, 3 客户拒绝, 4 接替成员客户达到上限, 5 无接替记录; a group moved by groupchat/transfer is 1 at once);
    `errcode` is WeCom's refusal of the request itself, `refusal` Siyu's own (the two-in-90-days limit)."""

    class Kind(models.TextChoices):
        CUSTOMER = "customer", _("Customer")
        GROUP = "group", _("Customer group")

    handover = models.ForeignKey(Handover, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    external_userid = models.CharField(max_length=128, blank=True, db_index=True)
    chat_id = models.CharField(max_length=128, blank=True)
    customer_id = models.BigIntegerField(null=True, blank=True)
    status = models.SmallIntegerField(null=True, blank=True)
    errcode = models.IntegerField(null=True, blank=True)
    refusal = models.CharField(max_length=32, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    takeover_time = models.DateTimeField(null=True, blank=True)
    owner_assigned = models.BooleanField(default=False)  # the takeover became the owner guide in Siyu

    class Meta:
        ordering = ["pk"]
