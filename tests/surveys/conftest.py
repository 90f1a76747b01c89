"""Fixtures of the survey tests: customers in the warehouse with a current traits snapshot (written straight
into the tables `siyu traits` fills), staff, a declared attribute and a survey with branching and mappings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from survey_data import SKIN_SURVEY

from siyu.staff.actions import create_user
from siyu.staff.models import Role
from siyu.surveys import actions

AS_OF = datetime(2026, 11, 1, 16, 0, tzinfo=UTC)
# customer_id -> (rfm_layer, value_layer, lifecycle_stage, aipl_stage); 105 has no traits (seen after the cut-off)
TRAITS = {
    101: ("important_value", "top", "loyal", "loyalty"),
    102: ("important_value", "waist", "repeat", "purchase"),
    103: ("general_develop", "tail", "first_purchase", "purchase"),
    104: ("general_develop", "tail", "dormant", "purchase"),
}
CUSTOMERS = (101, 102, 103, 104, 105)


def write_customers(warehouse, traits: dict = TRAITS, customers=CUSTOMERS) -> None:
    con = warehouse.raw_connection()
    for cid in customers:
        con.execute("INSERT INTO customer_summary (customer_id, orders) VALUES (?, 1)", [cid])
    for cid, (rfm, value, stage, aipl) in traits.items():
        con.execute(
            "INSERT INTO customer_traits (customer_id, as_of, rfm_layer, value_layer, lifecycle_stage, aipl_stage,"
            " r_score, frequency, monetary, computed_tags) VALUES (?, ?, ?, ?, ?, ?, 3, 2, 150.50, ['高价值'])",
            [cid, AS_OF, rfm, value, stage, aipl],
        )
    con.execute(
        "INSERT INTO trait_runs (as_of, current, computed_at, customers, seconds, settings) VALUES (?, true, ?, ?, 0.1, '{}')",
        [AS_OF, AS_OF, len(traits)],
    )


@pytest.fixture
def people(warehouse, db):
    write_customers(warehouse)
    return CUSTOMERS


@pytest.fixture
def operator(db):
    return create_user("op", "pw-op-1234", Role.OPERATOR, display_name="运营小刘")


@pytest.fixture
def guide(db):
    return create_user("g1", "pw-guide-1", Role.GUIDE, display_name="王导购")


@pytest.fixture
def skin(operator):
    """The skin survey above, open; .q: its questions by number, .o: {label: option id}."""
    actions.declare_attribute(operator, "肤质")
    actions.declare_attribute(operator, "兴趣")
    survey = actions.make_survey(operator, title="肤质小调查", intro="两分钟", reward_note="答完送 10 积分",
                                 questions=SKIN_SURVEY)  # fmt: skip
    actions.open_survey(operator, survey.pk)
    survey.q = {q.position: q for q in survey.questions.all()}
    survey.o = {(q.position, o.label): o.pk for q in survey.questions.all() for o in q.options.all()}
    return survey
