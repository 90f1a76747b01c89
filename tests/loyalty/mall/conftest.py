import pytest

from siyu.staff.actions import create_user, ensure_store


@pytest.fixture
def staff(db):
    store = ensure_store("SH01", "上海南京西路店")
    return {
        "ops": create_user("ops", "pw-ops-1", "operator", display_name="运营小张"),
        "manager": create_user("mgr", "pw-mgr-1", "manager", store=store, display_name="店长"),
        "guide": create_user("g1", "pw-g1-1", "guide", display_name="小王"),
    }
