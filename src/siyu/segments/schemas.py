"""Request and response shapes of the traits, segments and predictions API (part of the OpenAPI schema)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from ninja import Field, Schema

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

