import pytest

from loyalty.loyalty_shop import Shop
from siyu.staff.actions import create_user


@pytest.fixture
def shop(warehouse, db, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    return Shop(warehouse)


@pytest.fixture
def ops(db):
    return create_user("ops", "pw-ops-1", "operator", display_name="运营小张")
