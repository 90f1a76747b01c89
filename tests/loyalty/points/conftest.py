import pytest

from siyu.staff.actions import create_user


@pytest.fixture
def staff(db):
    return {
        "ops": create_user("ops", "pw-ops-1", "operator", display_name="运营小张"),
        "admin": create_user("boss", "pw-boss-1", "admin", display_name="管理员"),
        "guide": create_user("g1", "pw-g1-1", "guide", display_name="小王"),
    }
