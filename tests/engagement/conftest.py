"""Fixtures for engagement: customers with addresses in an empty warehouse, and no holdout."""

import pytest
from engagement_helpers import add_customers


@pytest.fixture
def customers(warehouse, db):
    con = warehouse.raw_connection()
    add_customers(
        con,
        [
            {
                "customer_id": 1,
                "phone": "+8613800000001",
                "email": "one@example.com",
                "wecom": ("wm-one", "guide1"),
            },
            {
                "customer_id": 2,
                "phone": "+8613800000002",
                "email": "two@example.com",
                "wecom": ("wm-two", "guide1"),
            },
            {"customer_id": 3, "phone": "+8613800000003", "wecom": ("wm-three", "guide2")},
            {"customer_id": 4},  # no address at all
        ],
    )
    return warehouse


@pytest.fixture
def no_holdout(db):
    from siyu.engagement.actions import update_policy

    return update_policy(None, holdout_percent=0)
