"""The console's points pages: the liability overview, a customer's ledger, and the manual adjustment form
(operators only; refusals in words)."""

import datetime as dt

from django.utils import timezone

from siyu.loyalty.points import actions, queries


def test_the_overview_shows_the_liability(client, staff):
    now = timezone.now()
    actions.award_points(1, 100, key="a", reason="订单完成", source="order", expires_at=now + dt.timedelta(days=20))
    actions.award_points(1, 60, key="b", reason="订单完成", source="order", expires_at=now + dt.timedelta(days=60))
    actions.award_points(2, 40, key="c", reason="订单完成", source="order", available_at=now + dt.timedelta(days=7))
    actions.spend_points(1, 30, key="s", reason="门店抵现", source="till")
    owed = queries.liability()
    assert (owed.outstanding, owed.available, owed.pending) == (170, 130, 40)
    assert (owed.expiring_30d, owed.expiring_90d, owed.issued, owed.redeemed) == (70, 130, 200, 30)
    client.force_login(staff["ops"])
    page = client.get("/loyalty/points/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "未兑付积分" in page and "30 天内到期" in page and "门店抵扣" in page
    client.force_login(staff["guide"])
    assert client.get("/loyalty/points/").status_code == 403


def test_an_operator_adjusts_points_from_the_customers_ledger(client, owned):
    client.force_login(owned["ops"])
    url = "/loyalty/points/customers/2/"
    client.post(f"{url}adjust/", {"delta": "50", "reason": "客诉补偿", "key": "k1"})
    client.post(f"{url}adjust/", {"delta": "50", "reason": "客诉补偿", "key": "k1"})  # a double click
    assert queries.balance_of(2).available == 50
    page = client.post(f"{url}adjust/", {"delta": "-80", "reason": "更正", "key": "k2"}, follow=True,
                       HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()  # fmt: skip
    assert "积分不足" in page and queries.balance_of(2).available == 50
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "客诉补偿" in page and "手工调整积分" in page
    client.force_login(owned["guide"])
    assert "手工调整积分" not in client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert client.get("/loyalty/points/customers/3/").status_code == 403
