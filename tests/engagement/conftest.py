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
    from siyu.engagement.messaging.actions import update_policy

    return update_policy(None, holdout_percent=0)


@pytest.fixture
def team(db):
    """Store SH01 with guides g1, g2 and manager m1; store BJ01 with guide g9; an operator and an admin."""
    from siyu.staff.actions import create_user, ensure_store

    sh = ensure_store("SH01", "上海南京西路店")
    bj = ensure_store("BJ01", "北京三里屯店")
    return {
        "sh": sh,
        "bj": bj,
        "ops": create_user("ops", "pw-ops-1", "operator", display_name="运营小张"),
        "admin": create_user("boss", "pw-boss-1", "admin"),
        "g1": create_user("g1", "pw-g1-1", "guide", store=sh, display_name="小王"),
        "g2": create_user("g2", "pw-g2-1", "guide", store=sh, display_name="小李"),
        "m1": create_user("m1", "pw-m1-1", "manager", store=sh, display_name="店长"),
        "g9": create_user("g9", "pw-g9-1", "guide", store=bj, display_name="小赵"),
    }


@pytest.fixture
def shoppers(warehouse, team, no_holdout):
    """Customers 1–9 in the warehouse. Owners: 1, 2 → g1; 3 → g2; 5 → g9 (other store); 4, 6–9 none.
    Customer 1 last bought 玫瑰精华水 (after an older 洁面乳); 3 bought 护手霜."""
    from guides_helpers import UTC, add_people, add_purchase

    from siyu.customers.actions import assign_owner

    add_people([(1, "张*", "F"), (2, "李*", "M"), (3, "王*", None), (4, "赵*", "F"), (5, "钱*", "F"),
                (6, "孙*", "M"), (7, "周*", "F"), (8, "吴*", "M"), (9, "郑*", "F")])  # fmt: skip
    import datetime as dt

    add_purchase(1, "shop|o1", dt.datetime(2026, 3, 1, tzinfo=UTC), "99.00", "山茶花洁面乳")
    add_purchase(1, "shop|o2", dt.datetime(2026, 5, 1, tzinfo=UTC), "299.00", "玫瑰精华水")
    add_purchase(3, "shop|o3", dt.datetime(2026, 5, 2, tzinfo=UTC), "58.00", "护手霜")
    assign_owner(None, [1, 2], team["g1"])
    assign_owner(None, [3], team["g2"])
    assign_owner(None, [5], team["g9"])
    return team
