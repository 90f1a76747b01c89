"""Request and response shapes of the API (they are the OpenAPI schema)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from ninja import Field, Schema

from siyu.customers.queries import CONSENT_CHANNELS, CustomerId

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


class OrderItemIn(Schema):
    product_id: str | None = Field(None, max_length=128)
    product: str | None = Field(None, max_length=500)
    sku: str | None = Field(None, max_length=128)
    quantity: int = Field(1, ge=0, le=1_000_000)
    amount: Decimal | None = Field(None, ge=0, le=Decimal("9999999999999999.99"), decimal_places=2)


class IdentifiersMixin(Schema):
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


class EventIn(Schema):
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


class IngestOut(Schema):
    accepted: bool
    kind: Literal["order", "event"]
    source: str
    id: str
    result: dict[str, Any]


# --- identity ------------------------------------------------------------------------------------

RecordKey = Annotated[str, Field(min_length=3, max_length=300, description="`<source>|<record_id>`")]
Reason = Annotated[str, Field(max_length=2000)]


class ReviewRecordOut(Schema):
    record_key: str | None = None
    source: str | None = None
    record_id: str | None = None
    name_masked: str | None = None
    phone_masked: str | None = None
    gender: str | None = None
    birthday: date | None = None
    province: str | None = None
    city: str | None = None
    district: str | None = None
    seen_at: datetime | None = None


class EvidenceWordsOut(Schema):
    field: str = Field(description="the compared field, in words")
    words: str = Field(description="what the comparison found, in words")
    kind: Literal["agrees", "shared", "differs", "missing"] = Field(
        description="agrees: something one person has; shared: what a household shares (surname, address); "
        "differs; missing: one side has nothing to compare"
    )


class ImpactOut(Schema):
    survivor_id: int = Field(description="the customer that stays (the older id)")
    absorbed_id: int = Field(description="the customer merged into it by a `same` decision")
    customers_joined: int
    orders_moved: int
    spend_moved: str = Field(description="yuan, two decimals: the absorbed customer's spend")
    orders_after: int
    spend_after: str


class ReviewItemOut(Schema):
    record_key_l: str
    record_key_r: str
    customer_id_l: int
    customer_id_r: int
    match_probability: float
    match_weight: float = Field(description="log2 of the match odds (Splink's match weight)")
    reason: str = Field(description="why the pair was not merged automatically (code)")
    reason_words: str
    pattern: str = Field(description="the evidence pattern: the rule this entry belongs to")
    rule_words: str
    record_pairs: int = Field(description="record pairs between these two customers; the best is shown")
    left: ReviewRecordOut
    right: ReviewRecordOut
    evidence: dict[str, str] = Field(description="each compared field: the level the model put it at")
    evidence_words: list[EvidenceWordsOut]
    impact: ImpactOut


class ReviewPageOut(Schema):
    total: int = Field(description="entries (pairs of customers) on these pages")
    waiting: int = Field(description="pairs of customers waiting for a reviewer")
    kept_apart: int = Field(description="pairs of customers kept apart: only what a household shares agrees")
    record_pairs: int
    page: int
    page_size: int
    items: list[ReviewItemOut]


class QuarantinedOut(Schema):
    id_type: str
    type_words: str = Field(description="the identifier's type as an operator reads it")
    value_hint: str | None = Field(description="the value, masked")
    records: int | None
    names: int | None = Field(description="distinct full names on the records that carry it")
    sources: list[str]
    rule: str | None = Field(description="the guard's rule that quarantined it")
    rule_limit: int | None
    reason_words: str
    since: str | None
    example_customer: int | None = Field(description="a customer with a record that carries it")


class QuarantinePageOut(Schema):
    total: int = Field(description="quarantined values")
    page: int
    page_size: int
    items: list[QuarantinedOut]


class ReviewRuleOut(Schema):
    pattern: str
    words: str = Field(description="the rule as an operator reads it")
    reason_words: str
    queued: bool = Field(description="false: kept apart (only shared evidence), not waiting")
    entries: int = Field(description="pairs of customers the rule decides")
    record_pairs: int
    customers_fewer: int = Field(description="customers merged away if all are decided the same person")
    orders_moved: int
    spend_moved: str
    min_probability: float
    max_probability: float


class RuleDecisionIn(Schema):
    pattern: Annotated[str, Field(min_length=1, max_length=2000, description="a rule's `pattern`")]
    verdict: Literal["same", "different"]
    reason: Reason = ""


class RuleDecisionOut(Schema):
    pattern: str
    words: str
    verdict: str
    decided: int = Field(description="decisions recorded, one per pair of customers")
    decided_by: str | None
    decided_at: datetime
    note: str = "applied by the next resolve run"


class JoinOut(Schema):
    record_key: str
    joined_to: str | None = Field(description="the record it joined (null: no evidence kept)")
    how: Literal["identifier", "match", "auto_rule", "decision"] | None
    words: str = Field(description="how, in words")
    id_types: list[str] = Field(description="identifier types the two records share (values never shown)")
    match_probability: float | None
    match_weight: float | None
    fields: dict[str, str] = Field(description="each compared field's level (matches)")
    agreed: list[str] = Field(description="the fields that agreed, in words")
    rule: str | None
    decided_by: str | None
    decided_at: datetime | None
    reason: str


class DecisionIn(Schema):
    record_key_a: RecordKey
    record_key_b: RecordKey
    verdict: Literal["same", "different"]
    reason: Reason = ""


class MergeIn(Schema):
    customer_id: CustomerId
    other_id: CustomerId
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class SplitIn(Schema):
    customer_id: CustomerId
    record_key: RecordKey
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class UndoIn(Schema):
    absorbed_id: CustomerId
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class DecisionOut(Schema):
    record_key_a: str
    record_key_b: str
    verdict: str
    reason: str
    decided_by: str | None
    decided_at: datetime
    note: str = "applied by the next resolve run"


# --- traits --------------------------------------------------------------------------------------

# A rule condition in the format of siyu.segments.rules (checked on save; errors name the bad part).
Condition = Annotated[dict[str, Any], Field(description="a rule condition, see the user guide (traits)")]


class TraitsOut(Schema):
    customer_id: int
    as_of: datetime = Field(description="the snapshot's cut-off: only facts before it were used")
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    orders_total: int
    spend_total: str = Field(description="yuan, two decimals")
    recency_days: int | None
    frequency: int = Field(description="purchase orders in the window")
    monetary: str = Field(description="yuan spent in the window")
    r_score: int | None
    f_score: int | None
    m_score: int | None
    rfm_layer: str | None = Field(description="important_value … general_win_back (重要价值客户 … 一般挽留客户)")
    value_layer: str | None = Field(description="top (头部/钻石), waist (腰部) or tail (尾部)")
    priced_orders: int
    discount_order_share: float | None
    discount_depth: float | None
    lifecycle_stage: str
    aipl_stage: str
    purchase_cycle_days: float | None
    next_purchase_due: date | None
    due_in_days: int | None
    computed_tags: list[str]
    stages: dict[str, str] = Field(description="stage per custom stage set")


class TraitRunOut(Schema):
    as_of: datetime
    current: bool
    computed_at: datetime
    customers: int
    seconds: float


class TraitRunIn(Schema):
    as_of: date | None = Field(None, description="a past day (its start in the configured zone); none: now")


class TraitJobOut(Schema):
    job_id: str
    status: str
    result: dict[str, Any] | None = Field(description="the refresh report once it has run")


class StageIn(Schema):
    stage: Annotated[str, Field(min_length=1, max_length=64)]
    when: Condition


class StageSetIn(Schema):
    label: str = Field("", max_length=100)
    stages: list[StageIn] = Field(min_length=1, max_length=50, description="in order: the first that holds wins")
    default_stage: str = Field("", max_length=64, description="given when no stage holds; empty: none")
    active: bool = True


class StageSetOut(StageSetIn):
    name: str
    updated_at: datetime


class ComputedTagIn(Schema):
    rule: Condition
    description: str = Field("", max_length=300)
    active: bool = True


class ComputedTagOut(ComputedTagIn):
    name: str
    updated_at: datetime


class DeletedOut(Schema):
    deleted: str
