"""The WeCom external-contact sync against the fake WeCom: paged batch/get_by_user, the corporate tag
library, identifiers that link to customers known from other sources, owner guides and tags in the
customers app, an idempotent re-sync, changes in WeCom followed, the company-wide rate limit, mark_tag,
and the one-owner job hand-off."""

from __future__ import annotations

import pytest

from siyu.customers.models import CustomerState, CustomerTag
from siyu.engagement.messaging.actions import configure_account
from siyu.engagement.messaging.channel_actions import mark_wecom_tag
from siyu.engagement.messaging.channels.base import ProviderError
from siyu.engagement.messaging.channels.wecom import CallLimiter, WeComClient
from siyu.engagement.messaging.fakes.wecom import FakeWeCom
from siyu.engagement.messaging.models import WeComCorpTag
from siyu.pipeline.after_records import sync_wecom_contacts
from siyu.staff.actions import create_user

pytestmark = pytest.mark.django_db
T0 = 1_760_000_000  # createtime of the first relations


@pytest.fixture
def fake():
    with FakeWeCom() as server:
        server.add_tag_group("客户等级", {"tag-vip": "VIP", "tag-normal": "普通"})
        server.add_tag_group("兴趣", {"tag-skin": "护肤"})
        server.add_contact("guide1", "wm-alice", "Alice", unionid="union-alice", tags=["tag-vip"], createtime=T0,
                           gender=2)  # fmt: skip
        server.add_contact("guide2", "wm-alice", "Alice", unionid="union-alice", tags=["tag-skin"],
                           createtime=T0 + 50)  # fmt: skip
        server.add_contact("guide2", "wm-bob", "Bob", tags=["tag-normal"], createtime=T0 + 10)
        yield server


@pytest.fixture
def account(fake, db):
    return configure_account(
        None,
        "wecom",
        "wecom",
        {"corp_id": fake.corp_id, "base_url": fake.url},
        {"contact_secret": "contact-secret"},
    )


@pytest.fixture
def guides(db):
    return {
        "guide1": create_user("g-one", "pw-1-guide", "guide", wecom_userid="guide1"),
        "guide2": create_user("g-two", "pw-2-guide", "guide", wecom_userid="guide2"),
    }


def _member_with_unionid(tmp_path):
    """A mini-program member who is Alice: same unionid, imported from another source first."""
    from siyu.identity.actions import resolve_identities
    from siyu.ingest.actions import import_files

    path = tmp_path / "members.csv"
    path.write_text("会员号,姓名,unionid\nM1,王爱丽,union-alice\nM2,赵六,union-zhao\n", encoding="utf-8")
    report = import_files([path], source="mini", format="generic",
                          mapping={"会员号": "record_id", "姓名": "name", "unionid": "id:unionid"})  # fmt: skip
    assert report.totals()["imported"] == 2
    resolve_identities()


def _customer_of(con, record_key):
    row = con.execute("SELECT customer_id FROM customer_map WHERE record_key = ?", [record_key]).fetchall()
    return row[0][0] if row else None


def _labels(customer_id):
    return sorted(
        str(t.tag) for t in CustomerTag.objects.filter(customer_id=customer_id).select_related("tag__group")
    )


def test_sync_lands_contacts_links_identities_and_brings_owner_and_tags(
    warehouse, account, fake, guides, tmp_path
):
    _member_with_unionid(tmp_path)
    report = sync_wecom_contacts()
    assert (report["contacts"], report["relations"], report["staff_members"]) == (2, 3, 2)
    assert report["records_new"] == 2 and report["corp_tags"] == 3
    con = warehouse.raw_connection()
    # Alice's WeCom record joins the member imported earlier through the shared unionid
    alice = _customer_of(con, "wecom|wm-alice")
    assert alice is not None and alice == _customer_of(con, "mini|M1")
    assert _customer_of(con, "wecom|wm-bob") not in (None, alice)
    # the identifiers the WeCom importer writes, and lineage: one batch with a raw row per relation
    ids = con.execute(
        "SELECT id_type, count(*) FROM identifiers WHERE source = 'wecom' GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert ids == [("external_userid", 2), ("unionid", 1)]
    lineage = con.execute("SELECT count(*), min(file_name) FROM raw_rows WHERE batch_id = ?",
                          [report["batch_id"]]).fetchall()  # fmt: skip
    assert lineage == [(3, "wecom-api-sync")]
    # the owner is the staff member who added Alice first; her tags are every member's corporate tags
    assert CustomerState.objects.get(customer_id=alice).owner == guides["guide1"]
    assert _labels(alice) == ["兴趣:护肤", "客户等级:VIP"]
    assert set(CustomerTag.objects.filter(customer_id=alice).values_list("source", flat=True)) == {"import"}
    bob = _customer_of(con, "wecom|wm-bob")
    assert CustomerState.objects.get(customer_id=bob).owner == guides["guide2"]
    assert WeComCorpTag.objects.get(wecom_id="tag-vip").tag.name == "VIP"
    # the contact-added events the importer gives, one per contact
    events = con.execute(
        "SELECT record_key FROM events WHERE event_type = 'wecom_contact_added' ORDER BY 1"
    ).fetchall()
    assert events == [("wecom|wm-alice",), ("wecom|wm-bob",)]


def test_resync_is_idempotent_and_follows_changes_made_in_wecom(warehouse, account, fake, guides):
    first = sync_wecom_contacts()
    con = warehouse.raw_connection()
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
              for t in ("records", "identifiers", "events", "raw_rows", "customer_map")}  # fmt: skip
    again = sync_wecom_contacts()
    assert (again["records_new"], again["records_changed"], again["imported"]) == (0, 0, 0)
    assert again["duplicates"] == first["relations"]
    assert counts == {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in counts}
    alice = _customer_of(con, "wecom|wm-alice")
    assert _labels(alice) == ["兴趣:护肤", "客户等级:VIP"]

    # An operator's own tag must survive; in WeCom, guide1 drops Alice (guide2 now owns her) and the
    # VIP tag goes with guide1's relation; guide2 gives her 普通.
    from siyu.customers.actions import add_tag

    add_tag(None, [alice], "手工:回访")
    fake.contacts["guide1"].remove("wm-alice")
    fake.details["wm-alice"]["follow_user"] = [f for f in fake.details["wm-alice"]["follow_user"]
                                              if f["userid"] != "guide1"]  # fmt: skip
    fake.follow("guide2", "wm-alice")["tags"].append({"tag_id": "tag-normal", "type": 1})
    changed = sync_wecom_contacts()
    assert (changed["records_new"], changed["records_changed"]) == (0, 1)
    assert CustomerState.objects.get(customer_id=alice).owner == guides["guide2"]
    assert _labels(alice) == ["兴趣:护肤", "客户等级:普通", "手工:回访"]
    assert changed["tags_removed"] == 1
    owner_staff = con.execute(
        "SELECT owner_staff FROM records WHERE record_key = 'wecom|wm-alice'"
    ).fetchall()
    assert owner_staff == [("guide2",)]  # mass messages to Alice now go out from guide2
    # a locked owner is not reassigned by a sync
    from siyu.customers.actions import assign_owner

    assign_owner(None, [alice], guides["guide1"], lock=True)
    fake.follow("guide2", "wm-alice")["tags"] = []
    sync_wecom_contacts()
    assert CustomerState.objects.get(customer_id=alice).owner == guides["guide1"]
    assert _labels(alice) == ["手工:回访"]


def test_batch_get_by_user_is_paged_by_cursor(warehouse, account, fake, guides):
    for i in range(230):
        fake.add_contact("guide3", f"wm-many-{i:03d}", f"客户{i}", createtime=T0 + i)
    report = sync_wecom_contacts()
    assert report["contacts"] == 232
    pages = [r for r in fake.requests if r["path"] == "/cgi-bin/externalcontact/batch/get_by_user"]
    # guide1..3 in one call of ≤ 100 userids: 233 relations in pages of 100
    assert len(pages) == 3
    import json

    bodies = [json.loads(p["body"]) for p in pages]
    assert bodies[0]["cursor"] == "" and bodies[1]["cursor"] and bodies[2]["cursor"] != bodies[1]["cursor"]
    assert all(b["limit"] == 100 and len(b["userid_list"]) == 3 for b in bodies)
    assert warehouse.raw_connection().execute(
        "SELECT count(*) FROM records WHERE source = 'wecom'"
    ).fetchall() == [(232,)]


def test_rate_limit_keeps_the_company_under_its_calls_per_minute():
    now, slept = [0.0], []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    limiter = CallLimiter(limit=3, per=60.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limiter.acquire()
        now[0] += 1.0
    limiter.acquire()  # the fourth call in a minute waits until the first leaves the window
    assert slept == [57.0] and now[0] == 60.0
    calls = list(limiter.calls)
    assert all(sum(1 for c in calls if t - 60 < c <= t) <= 3 for t in calls)


def test_a_sync_waits_out_45009_and_the_limiter_is_shared_per_company(warehouse, account, fake, guides,
                                                                      monkeypatch):  # fmt: skip
    waits = []
    monkeypatch.setattr(WeComClient, "sleep", staticmethod(waits.append))
    fake.api_calls_per_minute = 2  # the server's own window: the third call in a minute gets 45009 …
    with pytest.raises(ProviderError):
        sync_wecom_contacts()  # … and keeps getting it: the sync gives up after its patience
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    fake.api_calls_per_minute = 10_000
    fake.script(200, {"errcode": 45009, "errmsg": "api freq out of limit"})
    waits.clear()
    assert sync_wecom_contacts()["contacts"] == 2
    assert waits == [1.0]
    a = WeComClient(fake.corp_id, "contact-secret", fake.url)
    b = WeComClient(fake.corp_id, "app-secret", fake.url)
    assert a.limiter is b.limiter  # 10,000 a minute per company, whatever the secret


def test_mark_wecom_tag_edits_the_tag_in_wecom_and_in_siyu(warehouse, account, fake, guides):
    sync_wecom_contacts()
    con = warehouse.raw_connection()
    bob = _customer_of(con, "wecom|wm-bob")
    result = mark_wecom_tag(None, [bob], "客户等级:VIP")
    assert result == {"marked": 1, "failed": {}}
    assert {"tag_id": "tag-vip", "type": 1} in fake.follow("guide2", "wm-bob")["tags"]
    assert "客户等级:VIP" in _labels(bob)
    # the next sync agrees with what was marked
    sync_wecom_contacts()
    assert "客户等级:VIP" in _labels(bob)
    mark_wecom_tag(None, [bob], "客户等级:VIP", remove=True)
    assert {"tag_id": "tag-vip", "type": 1} not in fake.follow("guide2", "wm-bob")["tags"]
    assert "客户等级:VIP" not in _labels(bob)
    from siyu.engagement.errors import EngagementError

    with pytest.raises(EngagementError):
        mark_wecom_tag(None, [bob], "没有:这个")


def test_sync_job_runs_in_process_and_reports(warehouse, account, fake, guides):
    from siyu.core.owner import submit_job

    job = submit_job("wecom_sync", {}, None)
    assert job.status == "done", job.error
    assert job.result["contacts"] == 2


def test_console_button_cli_and_schedule(warehouse, account, fake, guides, client, settings):
    admin = create_user("boss", "pw-admin-1", "admin")
    client.force_login(admin)
    page = client.get("/engagement/channels/").content.decode()
    assert 'data-section="wecom-sync"' in page and "/engagement/wecom/sync/" in page
    answer = client.post("/engagement/wecom/sync/")
    assert answer.status_code == 302
    from siyu.core.models import Job

    job = Job.objects.get(kind="wecom_sync")
    assert job.status == "done" and job.result["contacts"] == 2
    assert "2" in client.get("/engagement/channels/").content.decode()
    guide = create_user("g3", "pw-3-guide", "guide")
    client.force_login(guide)
    assert client.post("/engagement/wecom/sync/").status_code == 403

    import io
    import json

    from django.core.management import call_command

    out = io.StringIO()
    call_command("sync", "wecom", "--json", stdout=out)
    assert json.loads(out.getvalue())["records_new"] == 0

    # a periodic sync: queued on the database backend when the account asks for one, once
    from siyu.engagement.errors import EngagementError
    from siyu.engagement.messaging.actions import configure_account as configure
    from siyu.engagement.messaging.channel_actions import schedule_wecom_sync

    with pytest.raises(EngagementError):
        configure(None, "wecom", "wecom", {"corp_id": fake.corp_id, "sync_every_hours": "0.1"}, {})
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    from django_tasks_db.models import DBTaskResult

    configure(
        None, "wecom", "wecom", {"corp_id": fake.corp_id, "base_url": fake.url, "sync_every_hours": "6"}, {}
    )
    import datetime as dt

    from django.utils import timezone

    first = schedule_wecom_sync()
    assert first is not None and abs((first - timezone.now()) - dt.timedelta(hours=6)) < dt.timedelta(
        minutes=1
    )
    assert schedule_wecom_sync() == first
    assert DBTaskResult.objects.filter(task_path__endswith="run_scheduled_wecom_sync").count() == 1
    from siyu.engagement.messaging.tasks import run_scheduled_wecom_sync

    job_id = run_scheduled_wecom_sync.call()
    assert Job.objects.get(pk=job_id).status == "done"


def test_transfer_honours_wecoms_two_transfers_in_90_days(warehouse, account, fake, guides):
    import datetime as dt

    from django.utils import timezone

    from siyu.engagement.messaging.channel_actions import transfer_wecom_customers

    sync_wecom_contacts()
    con = warehouse.raw_connection()
    bob = _customer_of(con, "wecom|wm-bob")
    fake.members.add("guide1")
    start = timezone.now()
    first = transfer_wecom_customers(None, [bob], guides["guide1"], now=start)
    assert first == {"transferred": [bob], "refused": {}}
    assert CustomerState.objects.get(customer_id=bob).owner == guides["guide1"]
    assert "wm-bob" in fake.contacts["guide1"]
    sync_wecom_contacts()  # the records learn the new owner, so the next transfer starts from guide1
    second = transfer_wecom_customers(None, [bob], guides["guide2"], now=start + dt.timedelta(days=10))
    assert second["transferred"] == [bob]
    sync_wecom_contacts()
    third = transfer_wecom_customers(None, [bob], guides["guide1"], now=start + dt.timedelta(days=20))
    assert third["transferred"] == [] and "twice in the last 90 days" in third["refused"][bob]
    assert len(fake.transfers["wm-bob"]) == 2  # WeCom was not even asked
    assert CustomerState.objects.get(customer_id=bob).owner == guides["guide2"]
    # WeCom's own refusal (a transfer made outside Siyu) is reported per customer
    from siyu.engagement.messaging.models import WeComTransfer

    WeComTransfer.objects.all().delete()
    refused = transfer_wecom_customers(None, [bob], guides["guide1"], now=start + dt.timedelta(days=20))
    assert "errcode 40129" in refused["refused"][bob]
    # Siyu's window slides: 101 days after two transfers it asks WeCom again (the fake, on real time, refuses)
    for days in (0, 10):
        WeComTransfer.objects.create(customer_id=bob, external_userid="wm-bob", handover_userid="a",
                                     takeover_userid="b", transferred_at=start + dt.timedelta(days=days))  # fmt: skip
    inside = transfer_wecom_customers(None, [bob], guides["guide1"], now=start + dt.timedelta(days=89))
    later = transfer_wecom_customers(None, [bob], guides["guide1"], now=start + dt.timedelta(days=101))
    assert "twice in the last 90 days" in inside["refused"][bob]
    assert "errcode 40129" in later["refused"][bob]


def test_profile_marks_wecom_tags_and_transfers_in_wecom_and_the_api_does_too(
    warehouse, account, fake, guides, client
):
    from django.test import Client

    from siyu.api.actions import create_token

    sync_wecom_contacts()
    bob = _customer_of(warehouse.raw_connection(), "wecom|wm-bob")
    fake.members.add("guide1")
    operator = create_user("op", "pw-op-12345", "operator")
    client.force_login(operator)
    page = client.get(f"/customers/{bob}/").content.decode()
    assert 'id="wecom-tag"' in page and "客户等级:VIP" in page and 'id="wecom-transfer"' in page
    answer = client.post(f"/engagement/wecom/customers/{bob}/tag/", {"label": "客户等级:VIP", "op": "add"})
    assert answer.status_code == 302 and answer["Location"].endswith(f"/customers/{bob}/#tags")
    assert {"tag_id": "tag-vip", "type": 1} in fake.follow("guide2", "wm-bob")["tags"]
    assert "客户等级:VIP" in _labels(bob)
    client.post(f"/engagement/wecom/customers/{bob}/transfer/", {"owner": guides["guide1"].pk, "message": "您好"})
    assert CustomerState.objects.get(customer_id=bob).owner == guides["guide1"]
    assert "wm-bob" in fake.contacts["guide1"]
    # a guide sees the tag form for their own customer but may not transfer
    client.force_login(guides["guide1"])
    assert client.post(f"/engagement/wecom/customers/{bob}/transfer/", {"owner": guides["guide2"].pk}).status_code == 403

    sync_wecom_contacts()  # the records learn the new owner, whom WeCom now expects to mark tags as
    api = Client(headers={"Authorization": f"Bearer {create_token(operator, 'tests')}"})
    removed = api.post("/api/wecom/tags", {"customer_ids": [bob], "label": "客户等级:VIP", "remove": True},
                       content_type="application/json", headers={"Idempotency-Key": "t1"})  # fmt: skip
    assert removed.status_code == 200 and removed.json() == {"marked": 1, "failed": {}}
    assert "客户等级:VIP" not in _labels(bob)
    unknown = api.post("/api/wecom/transfers", {"customer_ids": [bob], "to_user_id": 999_999},
                       content_type="application/json", headers={"Idempotency-Key": "t2"})  # fmt: skip
    assert unknown.status_code == 400 and "no active user" in unknown.json()["detail"]
