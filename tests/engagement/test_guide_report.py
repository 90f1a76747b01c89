"""The per-guide report on a hand-computed set of tasks, contacts and purchases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from guides_helpers import NOON, add_purchase

from siyu.core.errors import PermissionDenied
from siyu.engagement.content.actions import save_script
from siyu.engagement.guides.actions import complete_task, create_guide_tasks
from siyu.engagement.guides.models import GuideTask
from siyu.engagement.guides.queries import guide_report, list_tasks

pytestmark = pytest.mark.django_db
YEAR = {"date_from": dt.date(2026, 1, 1), "date_to": dt.date(2026, 12, 31)}


@pytest.fixture
def worked(shoppers):
    """Tasks for 1, 2 (g1), 3 (g2), 5 (g9, another store), 4 (no owner: suppressed).
    g1 contacts 1 a day after; 2 stays open past its due time. g2 contacts 3 an hour after.
    Purchases: 1 buys ¥100 two days after the contact and ¥50 ten days after (outside 7 days), and had
    bought before; 3 buys ¥30 exactly 7 days after the contact (inside), a closed ¥999 order in between
    (not a purchase) and ¥20 an hour before the contact (before it)."""
    script = save_script(shoppers["ops"], title="回访", body="{name}您好")
    batch = create_guide_tasks(shoppers["ops"], script=script, due_at=NOON + dt.timedelta(days=2),
                               customer_ids=[1, 2, 3, 4, 5], now=NOON)  # fmt: skip
    task = {t.customer_id: t for t in GuideTask.objects.filter(batch=batch)}
    c1, c3 = NOON + dt.timedelta(days=1), NOON + dt.timedelta(hours=1)
    complete_task(shoppers["g1"], task[1].pk, "reached", now=c1)
    complete_task(shoppers["g2"], task[3].pk, "no_answer", now=c3)
    add_purchase(1, "shop|r1", c1 + dt.timedelta(days=2), "100.00")
    add_purchase(1, "shop|r2", c1 + dt.timedelta(days=10), "50.00")
    add_purchase(3, "shop|r3", c3 + dt.timedelta(days=7), "30.00")
    add_purchase(3, "shop|r4", c3 + dt.timedelta(days=3), "999.00", status="not_purchase")
    add_purchase(3, "shop|r5", c3 - dt.timedelta(hours=1), "20.00")
    return shoppers, batch


def rows(report) -> dict[str, dict]:
    return {r["guide"]: r for r in report["items"]}


def test_completion_and_purchases_after_the_contact_per_guide(worked):
    team, batch = worked
    report = rows(guide_report(team["ops"], now=NOON + dt.timedelta(days=3), **YEAR))
    assert set(report) == {"小王", "小李", "小赵"}
    g1, g2, g9 = report["小王"], report["小李"], report["小赵"]
    assert (g1["tasks"], g1["open"], g1["overdue"], g1["done"], g1["reached"]) == (2, 1, 1, 1, 1)
    assert g1["completion_rate"] == 0.5
    assert (g1["tasks_with_purchase"], g1["purchase_rate"], g1["orders"], g1["gmv"]) == (
        1,
        1.0,
        1,
        Decimal("100.00"),
    )
    assert (g2["tasks"], g2["done"], g2["no_answer"], g2["completion_rate"]) == (1, 1, 1, 1.0)
    assert (g2["tasks_with_purchase"], g2["orders"], g2["gmv"]) == (1, 1, Decimal("30.00"))
    assert (g9["tasks"], g9["open"], g9["done"], g9["purchase_rate"], g9["gmv"]) == (
        1,
        1,
        0,
        None,
        Decimal("0.00"),
    )


def test_a_shorter_window_drops_the_later_purchase(worked):
    team, _batch = worked
    report = rows(guide_report(team["ops"], days=3, now=NOON + dt.timedelta(days=3), **YEAR))
    assert report["小李"]["tasks_with_purchase"] == 0 and report["小李"]["gmv"] == Decimal("0.00")
    assert report["小王"]["gmv"] == Decimal("100.00")


def test_managers_see_their_store_and_guides_only_their_own_tasks(worked):
    team, _batch = worked
    assert set(rows(guide_report(team["m1"], **YEAR))) == {"小王", "小李"}
    with pytest.raises(PermissionDenied):
        guide_report(team["g1"], **YEAR)
    mine = list_tasks(team["g1"])
    assert {t["customer_id"] for t in mine["items"]} == {1, 2}
    assert {t["customer_name"] for t in mine["items"]} == {"张*", "李*"}  # masked
    assert {t["customer_id"] for t in list_tasks(team["m1"])["items"]} == {1, 2, 3}
    assert {t["customer_id"] for t in list_tasks(team["ops"])["items"]} == {1, 2, 3, 4, 5}
