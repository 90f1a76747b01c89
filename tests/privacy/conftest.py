import pytest

from siyu.customers.actions import assign_owner
from siyu.staff.actions import create_user, ensure_store


@pytest.fixture
def people(warehouse, db):
    """Customers landed and resolved (tests/members/members_helpers.py), staff: an admin, an operator, a
    guide who owns customer one, a guide who owns nobody."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "members"))
    from members_helpers import land_brand

    brand = land_brand()
    sh = ensure_store("SH01", "上海南京西路店")
    staff = {
        "admin": create_user("boss", "pw-boss-1", "admin"),
        "ops": create_user("ops", "pw-ops-1", "operator", display_name="运营小张"),
        "g1": create_user("g1", "pw-g1-1", "guide", store=sh, display_name="小王"),
        "g2": create_user("g2", "pw-g2-1", "guide", store=sh, display_name="小李"),
    }
    assign_owner(None, [brand["one"]], staff["g1"])
    return {**brand, **staff}
