"""Control-plane state of a customer. The customer itself (identities, orders, totals) lives in the
warehouse; `customer_id` is the join key minted by identity resolution.

`merged_from`: a row a merge copied onto the surviving customer from the absorbed one (whose own rows stay
as they were), so that undoing the merge removes exactly these rows (siyu.customers.actions.follow_merges)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from siyu.core.batches import SCAN_THRESHOLD, chunked, within_id_range


class CustomerState(models.Model):
    customer_id = models.BigIntegerField(primary_key=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_customers"
    )
    # A locked owner is never reassigned by imports or merges.
    owner_locked = models.BooleanField(default=False)
    # the absorbed customer whose owner this customer took in a merge (given back when the merge is undone)
    owner_merged_from = models.BigIntegerField(null=True, blank=True)
    lifecycle_override = models.CharField(max_length=32, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        permissions = [("view_pii", "Can see customers' phone, name, address and email in clear")]


class TagGroup(models.Model):
    name = models.CharField(max_length=100, unique=True)

    def __str__(self):
        return self.name


class Tag(models.Model):
    group = models.ForeignKey(TagGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "name"], name="tag_unique_in_group")]

    def __str__(self):
        return f"{self.group.name}:{self.name}" if self.group_id else self.name


class CustomerTag(models.Model):
    class Source(models.TextChoices):
        MANUAL = "manual"
        IMPORT = "import"
        SURVEY = "survey"  # an answer mapped to a tag (siyu.surveys)

    customer_id = models.BigIntegerField(db_index=True)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="customer_tags")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    merged_from = models.BigIntegerField(null=True, blank=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer_id", "tag"], name="customer_tag_once")]


class Note(models.Model):
    customer_id = models.BigIntegerField(db_index=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    merged_from = models.BigIntegerField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]


# The consent "channel" that records a customer's choice about personalised marketing (PIPL art. 24): an
# opt-out means "no sends whose targeting uses profiling" (segments of traits or predictions, journeys
# entered through a segment, recommendations); service messages and general marketing still go. No record
# means personalised marketing is allowed. siyu.engagement.messaging.policy enforces it.
PERSONALISED = "personalised"


class ConsentQuerySet(models.QuerySet):
    def in_force(self, customer_ids, channels) -> dict[tuple[int, str], str]:
        """The consent in force: {(customer, channel): status} of the latest record per customer and channel,
        for `channels` and `all` (a record of the same time: the later entry wins)."""
        ids = set(customer_ids)
        rows = self.filter(channel__in=[*{c for c in channels if c}, "all"]).order_by("recorded_at", "pk")
        latest: dict[tuple[int, str], str] = {}
        if not ids:
            return latest
        if len(ids) > SCAN_THRESHOLD:
            scanned = within_id_range(rows, ids).values_list("customer_id", "channel", "status")
            for cid, channel, status in scanned.iterator(10_000):
                if cid in ids:
                    latest[(cid, channel)] = status
            return latest
        for chunk in chunked(sorted(ids)):
            for cid, channel, status in rows.filter(customer_id__in=chunk).values_list(
                "customer_id", "channel", "status"
            ):
                latest[(cid, channel)] = status
        return latest


class Consent(models.Model):
    """PIPL: every consent or opt-out with its source and time; the latest per channel is in force."""

    class Status(models.TextChoices):
        OPT_IN = "opt_in", pgettext_lazy("a consent", "Opted in")
        OPT_OUT = "opt_out", _("Do not disturb")

    customer_id = models.BigIntegerField(db_index=True)
    # siyu.customers.queries.CONSENT_CHANNELS: a channel, `all`, or PERSONALISED
    channel = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=Status.choices)
    source = models.CharField(max_length=100)
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    merged_from = models.BigIntegerField(null=True, blank=True, db_index=True)

    objects = ConsentQuerySet.as_manager()

    class Meta:
        ordering = ["-recorded_at"]


class ProfileCorrection(models.Model):
    """A profile field corrected at the customer's request (PIPL art. 46; siyu.privacy's correction requests):
    the profile shows it instead of what the imported records say, which stay as they were imported. The
    latest correction of a field is in force. `value` is PII: encrypted with the PII key (siyu.core.pii).
    `value_hash`: the keyed hash of a corrected phone or email (pii.keyed_hash of the value as stored, as the
    warehouse's records.phone_hash/email_hash are), so that the corrected value finds the customer (search,
    SMS replies, member sign-in) without decrypting every correction; empty for the other fields."""

    class Field(models.TextChoices):
        NAME = "name", _("Name")
        PHONE = "phone", _("Mobile number")
        EMAIL = "email", _("Email")
        ADDRESS = "address", _("Address")
        GENDER = "gender", _("Gender")
        BIRTHDAY = "birthday", _("Birthday")

    customer_id = models.BigIntegerField(db_index=True)
    field = models.CharField(max_length=16, choices=Field.choices)
    value = models.BinaryField()  # pii.encrypt_json(the corrected value as text)
    value_hash = models.CharField(max_length=64, blank=True, db_index=True)
    reason = models.CharField(max_length=200, blank=True)  # e.g. the privacy request it carried out
    corrected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    corrected_at = models.DateTimeField()
    merged_from = models.BigIntegerField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["corrected_at", "pk"]
