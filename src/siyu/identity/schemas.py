"""Request and response shapes of the identity API (part of the OpenAPI schema)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from ninja import Field, Schema

from siyu.customers.queries import CustomerId

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

