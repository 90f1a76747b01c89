import pytest

from siyu.staff.actions import create_user


@pytest.fixture
def staff(db):
    return {
        "ops": create_user("ops", "pw-ops-1", "operator", display_name="运营小张"),
        "admin": create_user("boss", "pw-boss-1", "admin", display_name="管理员"),
        "guide": create_user("g1", "pw-g1-1", "guide", display_name="小王"),
    }


@pytest.fixture
def customers(warehouse, db):
    """Customers 1–5 in the warehouse's read model; 1 and 2 belong to the guide g1."""

    con = warehouse.raw_connection()
    for cid in range(1, 6):
        con.execute("INSERT INTO customer_summary (customer_id, record_count) VALUES (?, 1)", [cid])
    return con


@pytest.fixture
def owned(customers, staff):
    from siyu.customers.models import CustomerState

    for cid in (1, 2):
        CustomerState.objects.create(customer_id=cid, owner=staff["guide"])
    return staff
