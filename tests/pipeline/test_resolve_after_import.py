"""Current without clicks: what lands through the server (console upload, a handed-over `siyu import`, API
batches) is resolved after it, one resolve for a burst, and the traits and segments follow; a segment is
materialised when saved."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from siyu.api.actions import create_token
from siyu.core.models import Job
from siyu.staff.actions import create_user

pytestmark = pytest.mark.django_db

TAOBAO_CSV = (
    "订单编号,买家会员名,买家实际支付金额,订单状态,收货人姓名,收货地址,联系手机,订单创建时间,订单付款时间,宝贝标题,宝贝总数量\r\n"
    '="2001",tb_zhang,299.00,交易成功,张伟,上海 上海市 静安区 南京西路1号,\'13812345678,2026-03-01 10:00:00,2026-03-01 10:01:00,玫瑰精华水,1\r\n'
    '="2002",tb_li,88.00,交易成功,李娜,浙江省 杭州市 西湖区 文三路2号,13911112222,2026-03-02 11:00:00,,护手霜,1\r\n'
)


def order(n: int, **extra) -> dict:
    return {
        "source": "miniprogram", "order_id": f"MP-{n}", "phone": f"1380000{n:04d}", "name": "王五",
        "order_time": "2026-03-01T12:00:00+08:00", "amount": "10.00", "status": "已支付",
        "items": [{"product": "面霜", "quantity": 1, "amount": "10.00"}], **extra,
    }  # fmt: skip


def push(client, body, key):
    return client.post("/api/orders", data=json.dumps(body), content_type="application/json",
                       headers={"Idempotency-Key": key})  # fmt: skip


def customers(warehouse) -> int:
    return warehouse.raw_connection().execute("SELECT count(*) FROM customer_summary").fetchall()[0][0]


@pytest.fixture
def auto_resolve(settings):
    settings.RESOLVE_AFTER_IMPORT = True
    settings.RESOLVE_AFTER_IMPORT_DELAY_SECONDS = 2
    return settings


@pytest.fixture
def api(warehouse, auto_resolve):
    return Client(headers={"Authorization": f"Bearer {create_token(create_user('op', 'pw-op-123', 'operator'), 'shop')}"})


@pytest.fixture
def operator_client(client, db):
    client.force_login(create_user("operator", "pw-oper-1", "operator"))
    return client


@pytest.fixture
def database_tasks(settings):
    """The task backend `siyu serve` uses (a table its worker polls), not the tests' immediate one."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def test_a_console_upload_makes_customers_and_refreshes_segments_without_a_click(
    operator_client, warehouse, auto_resolve
):
    from siyu.segments.actions import save_segment

    segment = save_segment(None, "上海", rule={"field": "province", "op": "=", "value": "上海市"})
    assert segment.member_count == 0 and customers(warehouse) == 0
    upload = SimpleUploadedFile("淘宝订单.csv", TAOBAO_CSV.encode("gbk"), content_type="text/csv")
    response = operator_client.post("/import/", {"files": [upload], "source": "tmall", "format": "auto", "mapping": ""})
    imported = Job.objects.get(kind="import")
    assert response["Location"] == f"/jobs/{imported.pk}/"
    resolve = imported.result["resolve"]
    assert resolve["requested"] is True
    job = Job.objects.get(pk=resolve["job"])
    assert job.kind == "resolve" and job.status == "done" and job.params["trigger"] == "import"
    assert customers(warehouse) == 2
    assert job.result["traits"]["customers"] == 2  # the chain after the resolve ran
    segment.refresh_from_db()
    assert segment.member_count == 1
    page = operator_client.get(f"/jobs/{imported.pk}/").content.decode()
    assert f'data-resolve-after="{job.pk}"' in page


def test_an_api_order_becomes_a_customer_without_a_click(api, warehouse):
    first = push(api, order(1), "k1")
    assert first.status_code == 202, first.content
    resolve = first.json()["result"]["resolve"]
    assert resolve["requested"] and Job.objects.get(pk=resolve["job"]).status == "done"
    assert customers(warehouse) == 1
    # a replay changes nothing and asks for nothing
    assert push(api, order(1), "k1").json() == first.json()
    again = push(api, order(1), "k2").json()["result"]
    assert again["imported"] == 0 and again["resolve"] == {"requested": False, "reason": "nothing_new"}
    assert Job.objects.filter(kind="resolve").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_api_batches_queues_one_resolve(api, warehouse, database_tasks):
    from django_tasks_db.management.commands.db_worker import Worker
    from django_tasks_db.models import DBTaskResult

    from siyu.pipeline.tasks import resolve_new_records

    for n in range(100):
        response = push(api, order(n), f"b{n}")
        assert response.status_code == 202, response.content
    waiting = Job.objects.filter(kind="resolve")
    tasks = DBTaskResult.objects.filter(task_path=resolve_new_records.module_path)
    assert waiting.count() == 1 and waiting.get().status == "queued"
    assert tasks.count() == 1 and tasks.get().status == "READY"
    job = waiting.get()
    assert {r["result"]["resolve"]["job"] for r in (push(api, order(n), f"b{n}").json() for n in (0, 99))} == {str(job.pk)}
    assert customers(warehouse) == 0  # nothing resolved yet: the worker has not run it

    # the worker claims it; an order landing now is not in that run: it gets a new waiting resolve
    task = tasks.get()
    task.claim("test-worker")
    later = push(api, order(100), "b100").json()["result"]["resolve"]
    assert later["job"] != str(job.pk)
    Worker(queue_names=["default"], interval=0, batch=True, backend_name="default", startup_delay=False,
           max_tasks=None, worker_id="test-worker", excluded_queue_names=[]).run_task(task)  # fmt: skip
    job.refresh_from_db()
    assert job.status == "done", job.error
    assert customers(warehouse) >= 100
    assert Job.objects.filter(kind="resolve", status="queued").count() == 1


def test_an_import_in_the_clis_own_process_does_not_resolve_and_says_so(warehouse, auto_resolve, tmp_path):
    import io

    from django.core.management import call_command

    path = tmp_path / "tb.csv"
    path.write_bytes(TAOBAO_CSV.encode("gbk"))
    out = io.StringIO()
    call_command("import", str(path), "--source", "tmall", stdout=out)
    assert "run `siyu resolve`" in out.getvalue()
    assert not Job.objects.filter(kind="resolve").exists() and customers(warehouse) == 0
    out = io.StringIO()
    call_command("import", str(path), "--source", "tmall", "--json", stdout=out)
    assert json.loads(out.getvalue().splitlines()[-1])["resolve"] == {"requested": False, "reason": "nothing_new"}
    # `siyu serve` resolves what waits when it starts
    from siyu.pipeline.actions import resolve_waiting_records

    assert resolve_waiting_records().status == "done"
    assert customers(warehouse) == 2
    assert resolve_waiting_records() is None


def test_switched_off_it_leaves_the_records_to_siyu_resolve(api, warehouse, settings):
    settings.RESOLVE_AFTER_IMPORT = False
    assert push(api, order(1), "k1").json()["result"]["resolve"] == {"requested": False, "reason": "off"}
    assert customers(warehouse) == 0


@pytest.mark.django_db(transaction=True)
def test_an_api_status_update_during_a_resolve_waits_for_it_instead_of_failing_it(api, warehouse, monkeypatch):
    """A resolve and an import that updates an order of a customer the resolve refreshes both replace that
    customer's customer_orders rows. Side by side, DuckDB fails the second writer of a row (incremental
    run), or the full run's rebuild from its snapshot drops the update: they take turns instead."""
    from siyu.api.ingest import order_row
    from siyu.api.schemas import OrderIn
    from siyu.identity import actions as identity
    from siyu.ingest.actions import ingest_api_records

    def update(status: str) -> dict:
        return ingest_api_records("miniprogram", "order", [order_row(OrderIn(**order(1, status=status)))])

    assert push(api, order(1), "first").status_code == 202  # a customer at once (immediate backend)
    assert update("已发货")["orders_updated"] == 1  # the resolve below refreshes this customer
    inside, release = threading.Event(), threading.Event()

    def paused(real):
        def refresh(*args, **kwargs):
            inside.set()
            release.wait(30)
            return real(*args, **kwargs)

        return refresh

    # an incremental run refreshes the customer's rows, a full run (a one-record brand trains no model) all
    for name in ("refresh_customer_summary", "rebuild_customer_summary"):
        monkeypatch.setattr(identity, name, paused(getattr(identity, name)))
    outcome = {}

    def run(name, fn):
        try:
            outcome[name] = fn()
        except Exception as exc:  # noqa: BLE001 - the assertions below say what went wrong
            outcome[name] = exc

    resolver = threading.Thread(target=run, args=("resolve", lambda: identity.resolve_identities().as_dict()))
    resolver.start()
    assert inside.wait(30)
    updater = threading.Thread(target=run, args=("update", lambda: update("已退款")))
    updater.start()
    time.sleep(0.5)
    release.set()
    resolver.join(60)
    updater.join(60)
    assert isinstance(outcome["resolve"], dict), outcome["resolve"]
    assert isinstance(outcome["update"], dict) and outcome["update"]["orders_updated"] == 1, outcome["update"]
    rows = warehouse.raw_connection().execute("SELECT status_class FROM customer_orders").fetchall()
    assert rows == [("not_purchase",)]


def test_a_saved_segment_has_its_members_at_once(operator_client, warehouse):
    from segments.traits_data import write_brand
    from siyu.segments.models import Segment
    from siyu.warehouse.summary import rebuild_customer_summary

    write_brand(warehouse.backend())
    warehouse.raw_connection().execute("UPDATE records SET province = '上海' WHERE record_key IN ('shop|r1', 'shop|r2')")
    rebuild_customer_summary()
    rule = '{"field": "province", "op": "=", "value": "上海"}'
    response = operator_client.post("/segments/new/", {"name": "上海", "kind": "rule", "rule": rule, "refresh": "manual"})
    segment = Segment.objects.get(name="上海")
    assert response.status_code == 302 and segment.member_count == 2 and segment.refreshed_at is not None
    page = operator_client.get(f"/segments/{segment.pk}/").content.decode()
    assert "成员 (2)" in page
    members = warehouse.raw_connection().execute("SELECT customer_id FROM segment_members ORDER BY 1").fetchall()
    assert members == [(1,), (2,)]

    client = Client(headers={"Authorization": f"Bearer {create_token(create_user('op2', 'pw-op-123', 'operator'), 't')}"})
    created = client.post("/api/segments", data=json.dumps({"name": "名单", "customer_ids": [1, 3]}),
                          content_type="application/json", headers={"Idempotency-Key": "s1"})  # fmt: skip
    assert created.status_code == 201 and created.json()["member_count"] == 2


def events(n: int, first: int, phone=lambda i: f"1390000{i:04d}") -> list[dict]:
    return [{"source": "miniprogram", "event_type": "page_view", "event_id": f"ev-{i}", "identifiers": {"phone": phone(i)},
             "occurred_at": "2026-03-01T12:00:00+08:00", "properties": {"page": "/p/1"}}
            for i in range(first, first + n)]  # fmt: skip


def push_events(client, body: list[dict], key: str):
    return client.post("/api/events/batch", data=json.dumps({"events": body}), content_type="application/json",
                       headers={"Idempotency-Key": key})  # fmt: skip


def event_customers(warehouse) -> int:
    sql = "SELECT count(DISTINCT m.customer_id) FROM events e JOIN customer_map m USING (record_key)"
    return warehouse.raw_connection().execute(sql).fetchall()[0][0]


@pytest.mark.django_db(transaction=True)
def test_a_stream_of_event_batches_is_resolved_once_after_the_interval(api, warehouse, database_tasks, settings):
    from datetime import timedelta

    from django.utils import timezone
    from django_tasks_db.management.commands.db_worker import Worker
    from django_tasks_db.models import DBTaskResult

    from siyu.pipeline.tasks import resolve_new_records

    settings.RESOLVE_AFTER_API_SECONDS = 600
    asked = timezone.now()
    for n in range(20):  # a stream: 20 batches of 50 people each, all new
        response = push_events(api, events(50, n * 50), f"s{n}")
        assert response.status_code == 202, response.content
        assert response.json()["resolve"]["requested"] is True
    waiting = Job.objects.filter(kind="resolve")
    assert waiting.count() == 1 and waiting.get().params["trigger"] == "api"
    task = DBTaskResult.objects.get(task_path=resolve_new_records.module_path)
    # it waits for the interval, not the import's 2 seconds: the stream lands first
    assert task.status == "READY" and task.run_after >= asked + timedelta(seconds=599)
    assert event_customers(warehouse) == 0

    # once the interval is over the worker runs it: every pushed person is a customer, nothing is lost
    DBTaskResult.objects.filter(pk=task.pk).update(run_after=timezone.now())
    task.refresh_from_db()
    task.claim("test-worker")
    Worker(queue_names=["default"], interval=0, batch=True, backend_name="default", startup_delay=False,
           max_tasks=None, worker_id="test-worker", excluded_queue_names=[]).run_task(task)  # fmt: skip
    job = waiting.get()
    assert job.status == "done", job.error
    assert event_customers(warehouse) == 1000

    # more events of the same people make no new record: no resolve is asked for, and they are on the
    # customers' timelines at once
    again = push_events(api, events(1000, 0, phone=lambda i: f"1390000{i:04d}")[:10], "s-again").json()
    assert again["resolve"] == {"requested": False, "reason": "nothing_new"}  # the same event ids: duplicates
    later = [e | {"event_id": f"later-{i}"} for i, e in enumerate(events(1000, 0))]
    answer = push_events(api, later, "s-later").json()
    assert answer["results"]["miniprogram"]["records_new"] == 0
    assert answer["resolve"] == {"requested": False, "reason": "no_new_records"}
    assert Job.objects.filter(kind="resolve").count() == 1
    sql = "SELECT count(*) FROM events e JOIN customer_map m USING (record_key) WHERE e.event_key LIKE '%later-%'"
    assert warehouse.raw_connection().execute(sql).fetchall()[0][0] == 1000

    # an import while an API batch's resolve waits brings it forward to the import's delay
    push_events(api, events(5, 5000), "s-new")
    waiting_task = DBTaskResult.objects.get(task_path=resolve_new_records.module_path, status="READY")
    assert waiting_task.run_after > timezone.now() + timedelta(seconds=500)
    from siyu.pipeline.actions import request_resolve

    assert str(request_resolve("import").pk) == push_events(api, events(1, 6000), "s-new2").json()["resolve"]["job"]
    waiting_task.refresh_from_db()
    assert waiting_task.run_after < timezone.now() + timedelta(seconds=10)
