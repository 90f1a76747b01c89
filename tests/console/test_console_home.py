"""The home (概览): key figures against the period before, what needs a person, what changed since
yesterday, a store manager's and a guide's home, in Chinese and in English.

The brand (times UTC, the console's zone Asia/Shanghai; its latest day with data is 2026-06-30, so the
30-day period is 06-01..06-30 and the one before 05-02..05-31):

    1  tmall buys 05-10 ¥100, 06-05 ¥200; WeCom contact 05-15; youzan buys 06-20 ¥300
    2  douyin buys 05-20 ¥50 and 05-25 ¥70
    3  POS member 06-10 at 上海南京西路店 (the staff fixture's store); POS sale there 06-12 ¥80
    4  WeCom contact 06-15, never buys
    5  tmall: 06-18 ¥999 refunded, 06-19 ¥500 closed (not purchases); 06-30 ¥120 bought

    customers (acquired by the period's end)  5, against 2 by 05-31: up 150%
    private-domain pool                       3 (1, 3, 4), against 1: up 200%
    GMV                                       ¥700, against ¥220: up 218.2%
    repurchase rate                           1 of 3 buyers (33.3%), against 1 of 2 (50%): down 16.7 points
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pyarrow as pa
import pytest

from siyu.warehouse.schema import TABLES

pytestmark = pytest.mark.django_db
UTC = dt.UTC
STORE = "上海南京西路店"


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def insert(warehouse, table: str, rows: list[dict]) -> None:
    schema = TABLES[table].to_pyarrow()
    full = [{name: row.get(name) for name in schema.names} for row in rows]
    warehouse.backend().insert(table, pa.Table.from_pylist(full, schema=schema))


def record(warehouse, customer_id: int, key: str, when: str, *, kind="order", store=None) -> None:
    source, _, record_id = key.partition("|")
    insert(warehouse, "records", [{"record_key": key, "source": source, "format": "generic", "record_kind": kind,
                                   "record_id": record_id, "store": store, "seen_at": at(when),
                                   "imported_at": at(when)}])  # fmt: skip
    insert(
        warehouse, "customer_map", [{"record_key": key, "customer_id": customer_id, "resolved_at": at(when)}]
    )


def buy(
    warehouse, customer_id: int, key: str, when: str, amount: str, *, status="purchase", store=None
) -> None:
    record(warehouse, customer_id, key, when, store=store)
    source, _, order_id = key.partition("|")
    insert(warehouse, "orders", [{"order_key": key, "source": source, "order_id": order_id, "record_key": key,
                                  "status_class": status, "order_time": at(when), "amount": Decimal(amount),
                                  "store": store}])  # fmt: skip


def summarise() -> None:
    from siyu.warehouse.summary import rebuild_customer_summary

    rebuild_customer_summary(now=at("2026-07-01 00:00:00"))


@pytest.fixture
def brand(warehouse, staff, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    buy(warehouse, 1, "tmall|t1", "2026-05-10 04:00:00", "100")
    record(warehouse, 1, "wecom|w1", "2026-05-15 04:00:00", kind="contact")
    buy(warehouse, 1, "tmall|t2", "2026-06-05 04:00:00", "200")
    buy(warehouse, 1, "youzan|y1", "2026-06-20 04:00:00", "300")
    buy(warehouse, 2, "douyin|d1", "2026-05-20 04:00:00", "50")
    buy(warehouse, 2, "douyin|d2", "2026-05-25 04:00:00", "70")
    record(warehouse, 3, "pos|m3", "2026-06-10 04:00:00", kind="member", store=STORE)
    buy(warehouse, 3, "pos|s3", "2026-06-12 04:00:00", "80", store=STORE)
    record(warehouse, 4, "wecom|w4", "2026-06-15 04:00:00", kind="contact")
    buy(warehouse, 5, "tmall|t5", "2026-06-18 04:00:00", "999", status="not_purchase")
    buy(warehouse, 5, "tmall|t6", "2026-06-19 04:00:00", "500", status="not_purchase")
    buy(warehouse, 5, "tmall|t7", "2026-06-30 04:00:00", "120")
    summarise()
    return warehouse


def text_of(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def figure(page: str, name: str) -> dict:
    """What the page shows of one key figure: its value, direction, change and previous value."""
    found = {}
    for key, attribute in (("value", "data-stat"), ("change", "data-change"), ("before", "data-before")):
        match = re.search(rf'{attribute}="{name}">([^<]*)<', page)
        found[key] = match.group(1) if match else None
    found["direction"] = re.search(rf'data-trend="{name}" data-direction="(\w+)"', page).group(1)
    return found


def need(page: str, name: str) -> tuple[int, str]:
    """The count and the link of one entry of what needs a person."""
    match = re.search(rf'<li data-need="{name}" data-count="(\d+)"[^>]*>\s*<a href="([^"]+)"', page)
    assert match, f"no {name} in what needs a person"
    return int(match.group(1)), match.group(2).replace("&amp;", "&")


def link_of(page: str, name: str) -> str:
    return need(page, name)[1]


def english(client) -> None:
    from django.conf import settings

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


# --- key figures ---------------------------------------------------------------------------------


def test_key_figures_against_the_30_days_before(admin_client, brand):
    page = text_of(admin_client.get("/"))
    assert 'data-date-from="2026-06-01" data-date-to="2026-06-30"' in page
    assert "2026-05-02 至 2026-05-31" in page
    assert figure(page, "customers") == {"value": "5", "change": "150.0%", "before": "2", "direction": "up"}
    assert figure(page, "private_pool") == {
        "value": "3",
        "change": "200.0%",
        "before": "1",
        "direction": "up",
    }
    # refunded and closed orders inside the period are not GMV
    assert figure(page, "gmv") == {
        "value": "¥700.00",
        "change": "218.2%",
        "before": "¥220.00",
        "direction": "up",
    }
    assert figure(page, "repurchase_rate") == {
        "value": "33.3%", "change": "16.7 个百分点", "before": "50.0%", "direction": "down"
    }  # fmt: skip
    assert "3 位购买客户中" in page
    # each figure links to the page that explains it, over the same days
    assert 'href="/analytics/gmv_tree/?date_from=2026-06-01&amp;date_to=2026-06-30" data-figure="gmv"' in page
    assert (
        'href="/analytics/funnel/?date_from=2026-06-01&amp;date_to=2026-06-30" data-figure="private_pool"'
        in page
    )


def test_the_period_switch_compares_7_days_with_the_7_before(admin_client, brand):
    page = text_of(admin_client.get("/", {"days": 7}))
    assert 'data-date-from="2026-06-24" data-date-to="2026-06-30"' in page
    assert figure(page, "gmv") == {
        "value": "¥120.00",
        "change": "60.0%",
        "before": "¥300.00",
        "direction": "down",
    }
    assert figure(page, "customers")["direction"] == "flat" and "持平" in page
    assert '<a href="?days=7" data-days="7" aria-current="true">近 7 天</a>' in page


def test_a_brand_without_a_previous_period_says_so_instead_of_a_change(admin_client, warehouse, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    buy(warehouse, 1, "tmall|t1", "2026-06-20 04:00:00", "100")
    summarise()
    page = text_of(admin_client.get("/"))
    for name in ("customers", "private_pool", "gmv", "repurchase_rate"):
        assert figure(page, name)["direction"] == "none", name
        assert figure(page, name)["change"] is None, name
    assert page.count("上一周期无数据") == 4
    assert "data-change" not in page and "↑" not in page and "↓" not in page


def test_the_figures_in_english(admin_client, brand):
    english(admin_client)
    page = text_of(admin_client.get("/"))
    assert "Private-domain pool" in page and "Repurchase rate" in page
    assert "16.7 points" in page and "previous period" in page
    assert "私域留量" not in page


# --- what needs a person ------------------------------------------------------------------------


@pytest.fixture
def waiting(brand, staff):
    """Two pairs of customers waiting for a review (and one kept apart), one quarantined identifier, two
    sends refused for good (and one that will be retried), one overdue guide task of each guide (and one
    not yet due), one failed job today (and one ten days ago)."""
    from django.utils import timezone

    from siyu.core.models import Job
    from siyu.engagement.guides.models import GuideTask, TaskBatch
    from siyu.engagement.messaging.models import Send

    now = timezone.now()
    pairs = [("douyin|d1", "tmall|t1", 2, 1, True), ("pos|m3", "wecom|w4", 3, 4, True),
             ("tmall|t5", "wecom|w4", 5, 4, False)]  # fmt: skip
    insert(brand, "match_candidates", [
        {"run_id": "r1", "record_key_l": left, "record_key_r": right, "customer_id_l": a, "customer_id_r": b,
         "match_probability": 0.8, "fields": "{}", "reason": "probabilistic", "pattern": "", "queued": queued}
        for left, right, a, b, queued in pairs
    ])  # fmt: skip
    insert(brand, "quarantined_identifiers", [{"run_id": "r1", "id_type": "phone", "value_hash": "h1",
                                               "records": 40, "reason": "shared", "since": now}])  # fmt: skip
    for key, status in (("s1", "failed_permanent"), ("s2", "failed_permanent"), ("s3", "failed_retryable")):
        Send.objects.create(
            idempotency_key=key, channel="sms", customer_id=1, status=status, scheduled_at=now
        )
    batch = TaskBatch.objects.create(name="六月回访", due_at=now)
    for customer_id, guide, due in ((1, "guide1", -1), (2, "guide2", -2), (3, "guide1", 2)):
        GuideTask.objects.create(batch=batch, customer_id=customer_id, guide=staff[guide],
                                 due_at=now + dt.timedelta(days=due))  # fmt: skip
    Job.objects.create(kind="import", status="failed", error="bad file")
    old = Job.objects.create(kind="import", status="failed", error="bad file")
    Job.objects.filter(pk=old.pk).update(created_at=now - dt.timedelta(days=10))
    return brand


def test_what_needs_a_person_with_counts_and_links(admin_client, waiting):
    page = text_of(admin_client.get("/"))
    assert need(page, "review") == (2, "/identity/review/")
    assert need(page, "quarantined") == (1, "/identity/quarantine/")
    assert need(page, "failed_sends") == (2, "/engagement/outbox/?status=failed_permanent")
    assert need(page, "overdue_tasks") == (2, "/engagement/tasks/?status=open")
    assert need(page, "failed_jobs") == (1, "/jobs/?status=failed")
    assert "对客户等待人工核对" in page and "条消息发送失败" in page
    # the links lead to pages that list what was counted
    assert (
        len(re.findall(r'<tr data-send="\d+">', text_of(admin_client.get(link_of(page, "failed_sends")))))
        == 2
    )
    jobs = text_of(admin_client.get(link_of(page, "failed_jobs")))
    assert jobs.count("status-failed") == 2 and "status-done" not in jobs and "只显示失败的任务" in jobs


def test_a_review_decision_shows_on_the_home_at_once(admin_client, staff, waiting):
    from siyu.identity.actions import decide_match

    assert need(text_of(admin_client.get("/")), "review")[0] == 2
    decide_match(staff["admin"], "douyin|d1", "tmall|t1", "same")  # applied by the next resolve
    assert need(text_of(admin_client.get("/")), "review")[0] == 1


def test_nothing_waiting_is_said_calmly_not_hidden(admin_client, brand):
    page = text_of(admin_client.get("/"))
    for name, link in (
        ("review", "/identity/review/"),
        ("quarantined", "/identity/quarantine/"),
        ("failed_sends", "/engagement/outbox/?status=failed_permanent"),
        ("overdue_tasks", "/engagement/tasks/?status=open"),
        ("failed_jobs", "/jobs/?status=failed"),
    ):
        assert need(page, name) == (0, link)
    for calm in (
        "没有等待人工核对的客户。",
        "没有被隔离的标识。",
        "没有发送失败的消息。",
        "没有逾期的导购任务。",
        "近 7 天没有失败的后台任务。",
    ):
        assert calm in page
    assert page.count('class="need-calm"') == 5


def test_what_needs_a_person_in_english(admin_client, waiting):
    english(admin_client)
    page = text_of(admin_client.get("/"))
    assert "Needs a person" in page and "pairs of customers wait for a review" in page
    assert "messages failed to send and will not be retried" in page
    assert "background job failed in the last 7 days" in page


# --- what changed since yesterday ---------------------------------------------------------------


def test_segments_grown_and_shrunk_since_yesterday(admin_client, brand):
    from django.utils import timezone

    from siyu.segments.models import Segment

    now = timezone.now()
    grown = Segment.objects.create(name="高价值", member_count=12, refreshed_at=now)
    shrunk = Segment.objects.create(name="沉睡客户", member_count=4, refreshed_at=now)
    quiet = Segment.objects.create(name="新客", member_count=9, refreshed_at=now)
    changes = [(grown.pk, i, "enter", now - dt.timedelta(hours=1)) for i in range(5)]
    changes += [(shrunk.pk, i, "exit", now - dt.timedelta(hours=2)) for i in range(3)]
    changes += [(quiet.pk, i, "enter", now - dt.timedelta(days=3)) for i in range(9)]  # before yesterday
    insert(brand, "segment_changes", [{"segment_id": s, "customer_id": c, "change": what, "changed_at": when}
                                      for s, c, what, when in changes])  # fmt: skip
    page = text_of(admin_client.get("/"))
    segments = re.findall(r'<li data-segment="(\d+)" data-direction="(\w+)">', page)
    assert segments == [(str(grown.pk), "up"), (str(shrunk.pk), "down")]
    assert "7 → 12 人：进入 5，离开 0" in page and "7 → 4 人：进入 0，离开 3" in page
    assert f'href="/segments/{grown.pk}/"' in page
    assert "新客" not in page


def test_journeys_running_with_their_lift_and_the_last_import_and_resolve(admin_client, brand):
    from siyu.core.models import Job
    from siyu.engagement.journeys.models import Enrollment, Journey

    running = Journey.objects.create(name="六月复购提醒", status="active", goal_days=7,
                                     steps=[{"id": "end", "type": "exit"}])  # fmt: skip
    Journey.objects.create(name="草稿旅程", status="draft")
    entered = at("2026-06-01 04:00:00")
    for customer_id, holdout in ((1, False), (2, True)):  # 1 buys on 06-05, within 7 days; 2 does not
        Enrollment.objects.create(journey=running, customer_id=customer_id, trigger_key=f"k{customer_id}",
                                  holdout=holdout, step_id="end", step_entered_at=entered, due_at=entered,
                                  entered_at=entered)  # fmt: skip
    Job.objects.create(kind="import", status="done", params={"source": "tmall"})
    Job.objects.create(kind="resolve", status="failed")
    page = text_of(admin_client.get("/"))
    assert re.findall(r'<li data-journey="(\d+)">', page) == [str(running.pk)]
    assert f'href="/engagement/journeys/{running.pk}/lift/"' in page and "草稿旅程" not in page
    assert 'data-lift="1.0000"' in page and "转化率比对照组 +100.0 个百分点" in page
    assert "触达组 1 人，对照组 1 人" in page
    jobs = page[page.index('id="home-jobs"') :]
    assert re.search(r'data-job-kind="import">\s*<strong>导入</strong>.*?已完成', jobs, re.S)
    assert re.search(r'data-job-kind="resolve">\s*<strong>识别身份</strong>.*?失败', jobs, re.S)


def test_nothing_changed_is_said(admin_client, brand):
    page = text_of(admin_client.get("/"))
    assert "昨天以来没有人群有人进出。" in page and "没有运行中的 SOP 旅程。" in page
    assert page.count("还没有运行过") == 2  # no import, no resolve job yet


# --- a store manager's and a guide's home -------------------------------------------------------


def test_a_store_manager_sees_their_stores_figures(client, staff, waiting):
    client.force_login(staff["manager"])
    page = text_of(client.get("/"))
    assert "本店的数据" in page
    # customer 3 is the one with a record at the store: acquired, joined and bought there in June
    assert figure(page, "customers")["value"] == "1" and figure(page, "customers")["direction"] == "none"
    assert figure(page, "gmv")["value"] == "¥80.00"
    assert need(page, "overdue_tasks") == (2, "/engagement/tasks/?status=open")  # guide1's and guide2's
    assert 'data-need="review"' not in page and 'id="home-changes"' not in page  # not a manager's pages


def test_a_store_manager_whose_store_the_data_does_not_name_sees_the_brand(client, staff, brand):
    from siyu.staff.actions import ensure_store
    from siyu.staff.models import StaffProfile

    StaffProfile.objects.filter(user=staff["manager"]).update(store=ensure_store("BJ01", "北京三里屯店"))
    client.force_login(staff["manager"])
    page = text_of(client.get("/"))
    assert "全品牌的数据" in page and figure(page, "customers")["value"] == "5"


def test_a_guide_sees_only_their_own_tasks(guide1_client, waiting):
    from siyu.engagement.guides.models import GuideTask

    page = text_of(guide1_client.get("/"))
    own = {str(t.pk) for t in GuideTask.objects.filter(guide__username="guide1")}
    assert set(re.findall(r'<li data-task="(\d+)">', page)) == own and len(own) == 2
    assert re.search(r'data-stat="open_tasks">2<', page) and re.search(r'data-stat="overdue_tasks">1<', page)
    assert "data-figure" not in page and "GMV" not in page and 'data-need="review"' not in page
    assert "已逾期" in page and "接下来要联系" in page
    english(guide1_client)
    page = text_of(guide1_client.get("/"))
    assert "Next to contact" in page and "Open tasks" in page
