"""Request and response shapes of the API (they are the OpenAPI schema)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import BaseModel

from siyu.customers.queries import CONSENT_CHANNELS, CustomerId
from siyu.identity.schemas import JoinOut

SOURCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
ConsentChannel = Literal[CONSENT_CHANNELS]  # type: ignore[valid-type]


class CustomerRowOut(Schema):
    customer_id: int
    name: str | None = Field(description="clear for roles that may see PII, else masked (张*)")
    phone: str | None = Field(description="clear for roles that may see PII, else masked (138****5678)")
    province: str | None
    city: str | None
    sources: list[str]
    stage: str | None
    orders: int
    spend: str = Field(description="yuan, two decimals")
    last_purchase_at: datetime | None
    owner: str | None = Field(description="display name of the owner guide")


class CustomerPageOut(Schema):
    items: list[CustomerRowOut]
    total: int
    page: int
    pages: int
    page_size: int


class TagOut(Schema):
    id: int
    name: str
    group: str | None
    label: str = Field(description="`组名:标签`, or the bare name for a tag without group")


class CustomerTagOut(TagOut):
    source: str = Field(description="manual or import")
    tagged_at: datetime


class TagWithCountOut(TagOut):
    customers: int


class TagGroupOut(Schema):
    id: int | None = Field(description="None for the tags that have no group")
    name: str | None
    tags: list[TagWithCountOut]


class IdentityOut(Schema):
    record_key: str
    source: str | None
    record_kind: str | None
    record_id: str | None
    name: str | None
    phone: str | None
    email: str | None
    address: str | None
    province: str | None
    city: str | None
    district: str | None
    store: str | None
    owner_staff: str | None
    seen_at: datetime | None


class OrderItemOut(Schema):
    product_id: str | None
    product: str | None
    sku: str | None
    quantity: int | None
    amount: str | None


class OrderOut(Schema):
    order_id: str | None
    source: str | None
    status_class: str | None
    status_raw: str | None
    order_time: datetime | None
    paid_time: datetime | None
    amount: str | None
    store: str | None
    guide: str | None
    items: list[OrderItemOut]


class TotalsOut(Schema):
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    orders: int
    spend: str
    aov: str


class OwnerOut(Schema):
    user_id: int
    name: str | None


class ConsentOut(Schema):
    channel: str
    status: str
    source: str
    recorded_at: datetime
    recorded_by: str | None


class NoteOut(Schema):
    id: int
    text: str
    author: str | None
    created_at: datetime


class TimelineEntryOut(Schema):
    at: datetime | None
    kind: Literal["order", "event", "note", "consent"]
    source: str | None
    summary: str
    ref: str | None


class ProfileOut(Schema):
    customer_id: int
    pii_visible: bool
    name: str | None
    phone: str | None
    email: str | None
    address: str | None
    gender: str | None
    birthday: date | None
    province: str | None
    city: str | None
    district: str | None
    sources: list[str]
    acquisition_source: str | None
    acquired_at: datetime | None
    stage: str | None
    computed_stage: str | None
    owner: OwnerOut | None
    owner_locked: bool
    owner_staff: str | None
    totals: TotalsOut
    identities: list[IdentityOut]
    joins: list[JoinOut] = Field(
        default_factory=list, description="how each record (but the oldest) joined the others"
    )
    orders: list[OrderOut]
    tags: list[CustomerTagOut]
    consent: dict[str, ConsentOut] = Field(description="the consent in force per channel (latest wins)")
    notes: list[NoteOut]
    timeline: list[TimelineEntryOut]


class TagIn(Schema):
    tag: str = Field(min_length=1, max_length=201, description="tag name, or `组名:标签`")
    group: str | None = Field(None, max_length=100, description="tag group (else taken from `组名:标签`)")


class TagChangeOut(Schema):
    changed: int = Field(description="customers that gained (or lost) the tag with this request")
    tags: list[CustomerTagOut]


class BulkTagIn(Schema):
    action: Literal["add", "remove"]
    customer_ids: list[CustomerId] = Field(min_length=1, max_length=10_000)
    tag: str = Field(min_length=1, max_length=201)
    group: str | None = Field(None, max_length=100)


class BulkTagOut(Schema):
    action: Literal["add", "remove"]
    tag: str
    customers: int
    changed: int


class NoteIn(Schema):
    text: str = Field(min_length=1, max_length=10_000)


class ConsentIn(Schema):
    channel: ConsentChannel
    status: Literal["opt_in", "opt_out"]
    source: str = Field(
        min_length=1, max_length=100, description="where the consent was given, e.g. wecom_chat"
    )
    at: datetime | None = Field(None, description="when it was given (default: now); naive = Asia/Shanghai")


class OrderItemIn(BaseModel):
    product_id: str | None = Field(None, max_length=128)
    product: str | None = Field(None, max_length=500)
    sku: str | None = Field(None, max_length=128)
    quantity: int = Field(1, ge=0, le=1_000_000)
    amount: Decimal | None = Field(None, ge=0, le=Decimal("9999999999999999.99"), decimal_places=2)


class IdentifiersMixin(BaseModel):
    phone: str | None = Field(None, max_length=32)
    email: str | None = Field(None, max_length=254)
    member_no: str | None = Field(None, max_length=128)
    identifiers: dict[str, str] = Field(
        default_factory=dict,
        description='other identifiers by type, e.g. {"unionid": "…", "external_userid": "…"}',
    )


class OrderIn(IdentifiersMixin):
    source: str = Field(pattern=SOURCE_PATTERN, description="channel name, e.g. miniprogram, pos, youzan")
    order_id: str = Field(min_length=1, max_length=128)
    name: str | None = Field(None, max_length=100)
    address: str | None = Field(None, max_length=500)
    order_time: datetime = Field(description="naive times are read as Asia/Shanghai")
    paid_time: datetime | None = None
    amount: Decimal = Field(ge=0, le=Decimal("9999999999999999.99"), decimal_places=2, description="yuan")
    status: str = Field(min_length=1, max_length=64, description="the platform's own status text")
    store: str | None = Field(None, max_length=128)
    guide: str | None = Field(None, max_length=128)
    items: list[OrderItemIn] = Field(default_factory=list, max_length=1000)


# The pushed facts are plain pydantic models, not ninja Schemas: a Schema validates each object through
# a Python wrapper (ninja's DjangoGetter, for ORM objects), a third of the validation of a 5,000-event batch.
class EventIn(BaseModel):
    source: str = Field(pattern=SOURCE_PATTERN)
    event_type: str = Field(
        min_length=1, max_length=64, description="e.g. page_view, add_to_cart, coupon_claimed"
    )
    event_id: str | None = Field(None, max_length=128, description="the sender's id of the event, if any")
    occurred_at: datetime = Field(description="naive times are read as Asia/Shanghai")
    identifiers: dict[str, str] = Field(
        description="who did it, by identifier type: phone, email, member_no, unionid, external_userid…"
    )
    properties: dict[str, Any] = Field(default_factory=dict)


MAX_BATCH_EVENTS = 10_000
MAX_BATCH_ORDERS = 2_000


class EventBatchIn(BaseModel):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)


class OrderBatchIn(BaseModel):
    orders: list[OrderIn] = Field(min_length=1, max_length=MAX_BATCH_ORDERS)


class IngestBatchOut(Schema):
    accepted: int = Field(description="how many facts of the batch were taken (new or already there)")
    kind: Literal["order", "event"]
    ids: list[str] = Field(description="the facts' ids, in the order sent")
    results: dict[str, dict[str, Any]] = Field(description="per source: the landed batch's counts")
    resolve: dict[str, Any]


class IngestOut(Schema):
    accepted: bool
    kind: Literal["order", "event"]
    source: str
    id: str
    result: dict[str, Any]


# --- identity ------------------------------------------------------------------------------------



# --- traits --------------------------------------------------------------------------------------

# A rule condition in the format of siyu.segments.rules (checked on save; errors name the bad part).


