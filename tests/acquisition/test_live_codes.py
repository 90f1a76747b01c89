"""Live codes against the fake WeCom: a code is a contact way whose staff change behind the same printed
QR code; an add through a code is attributed to it, gets the code's own welcome message (not the account's
default) through the contact policy, its auto tags in WeCom, a `code_scanned` event and a landed contact."""

from __future__ import annotations

import json

import pytest
from acquisition_helpers import post_callback

from engagement.engagement_helpers import add_customers
from siyu.acquisition import actions, queries
from siyu.acquisition.errors import AcquisitionError
from siyu.acquisition.models import LiveCode, LiveCodeAdd
from siyu.acquisition.quality import acquisition_quality
from siyu.customers.actions import record_consent
from siyu.engagement.content.actions import save_material
from siyu.engagement.messaging.models import Send
from siyu.identity.actions import resolve_identities
from siyu.ingest.actions import import_files

pytestmark = pytest.mark.django_db


def _code(team, **options):
    spec = {"name": "南京西路店门口", "channel": "store", "campaign": "双十二", "store": team["sh"],
            "staff": [team["g1"], team["g2"]], **options}  # fmt: skip
    return actions.create_live_code(team["ops"], **spec)


def test_a_code_is_a_contact_way_and_its_staff_change_behind_the_same_qr_code(warehouse, account, fake, team):
    code = _code(team)
    way = fake.contact_ways[code.config_id]
    assert (way["type"], way["scene"], way["user"], way["state"]) == (2, 2, ["guide1", "guide2"], code.state)
    assert code.qr_url == way["qr_code"] and len(code.state) <= 30
    actions.update_live_code(team["ops"], code.pk, staff=[team["g2"], {"staff": team["b1"], "backup": True}])
    assert fake.contact_ways[code.config_id]["user"] == ["guide2"]
    assert (fake.contact_ways[code.config_id]["qr_code"], list(fake.contact_ways)) == (code.qr_url, [code.config_id])
    actions.archive_live_code(team["ops"], code.pk)
    assert fake.contact_ways == {} and LiveCode.objects.get(pk=code.pk).archived


def test_nothing_changes_in_siyu_when_wecom_refuses(warehouse, account, fake, team):
    fake.members.discard("guide2")  # WeCom no longer knows 小李: 40003
    with pytest.raises(AcquisitionError, match="40003"):
        _code(team)
    assert not LiveCode.objects.exists() and fake.contact_ways == {}
    code = _code(team, staff=[team["g1"]])
    with pytest.raises(AcquisitionError, match="40003"):
        actions.update_live_code(team["ops"], code.pk, staff=[team["g2"]], name="改名")
    code.refresh_from_db()
    assert code.name == "南京西路店门口" and [r.staff.wecom_userid for r in code.staff.all()] == ["guide1"]
    assert fake.contact_ways[code.config_id]["user"] == ["guide1"]


def test_what_a_code_cannot_be_is_refused_before_wecom_is_asked(warehouse, account, fake, team, corp_tags):
    with pytest.raises(AcquisitionError, match="WeCom userid"):
        _code(team, staff=[team["g4"]])
    with pytest.raises(AcquisitionError, match="not a backup"):
        _code(team, staff=[{"staff": team["g1"], "backup": True}])
    with pytest.raises(AcquisitionError, match="weekday"):
        _code(team, staff=[{"staff": team["g1"], "schedule": {"8": [["09:00", "18:00"]]}}])
    with pytest.raises(AcquisitionError, match="start first"):
        _code(team, staff=[{"staff": team["g1"], "schedule": {"1": [["18:00", "09:00"]]}}])
    with pytest.raises(AcquisitionError, match="corporate tags"):
        _code(team, auto_tags=["渠道:不存在"])
    with pytest.raises(actions.PermissionDenied):
        actions.create_live_code(team["g1"], name="x", staff=[team["g1"]])
    assert fake.contact_ways == {} and not LiveCode.objects.exists()


def _events(warehouse, event_type):
    rows = warehouse.raw_connection().execute(
        "SELECT record_key, properties FROM events WHERE event_type = ? ORDER BY record_key", [event_type]
    ).fetchall()
    return [(key, json.loads(props)) for key, props in rows]


def test_an_add_through_a_code_is_attributed_welcomed_tagged_and_landed(warehouse, account, fake, team, corp_tags,
                                                                       client):  # fmt: skip
    code = _code(team, welcome_text="欢迎来到南京西路店，送您一张券", auto_tags=["渠道:门店"])
    xml = fake.scan(code.config_id, "wm-new", "新客", unionid="union-new", created=1780000000)
    assert post_callback(client, xml).content == b"success"
    add = LiveCodeAdd.objects.get()
    assert (add.code, add.staff_userid, add.external_userid, add.welcome) == (code, "guide1", "wm-new", "sent")
    # the code's welcome, and not the account's default one as well
    assert [w["text"] for w in fake.welcomes] == ["欢迎来到南京西路店，送您一张券"]
    assert Send.objects.get(pk=add.send_id).channel == "wecom_welcome"
    # the auto tag is put on in WeCom, as guide1 sees the customer
    assert [t["tag_id"] for t in fake.follow("guide1", "wm-new")["tags"]] == ["tag-store"]
    # journeys can trigger on the scan, with the code as a property
    assert _events(warehouse, "code_scanned") == [("wecom|wm-new", {
        "code_id": code.pk, "code_name": "南京西路店门口", "channel": "store", "campaign": "双十二",
        "store": "SH01", "staff": "guide1", "kind": "staff"})]  # fmt: skip
    # the contact landed as a WeCom record (with its unionid, for resolution), carrying the tag
    con = warehouse.raw_connection()
    assert con.execute("SELECT owner_staff, tags FROM records WHERE record_key = 'wecom|wm-new'").fetchall() == [
        ("guide1", ["渠道:门店"])]  # fmt: skip
    assert con.execute("SELECT count(*) FROM identifiers WHERE id_type = 'unionid'").fetchall() == [(1,)]
    # WeCom resends the callback: nothing twice
    assert post_callback(client, xml).content == b"success"
    assert LiveCodeAdd.objects.count() == 1 and len(fake.welcomes) == 1
    assert len(_events(warehouse, "code_scanned")) == 1


def test_a_code_without_its_own_welcome_leaves_the_account_default(warehouse, account, fake, team, client):
    code = _code(team)
    post_callback(client, fake.scan(code.config_id, "wm-new"))
    assert [w["text"] for w in fake.welcomes] == ["默认欢迎语"]
    assert LiveCodeAdd.objects.get().welcome == "none"


def test_an_opted_out_customer_gets_no_welcome(warehouse, account, fake, team, client):
    add_customers(warehouse.raw_connection(), [{"customer_id": 1, "wecom": ("wm-one", "guide9")}])
    record_consent(None, 1, "wecom", "opt_out", "客户要求")
    code = _code(team, welcome_text="欢迎！")
    post_callback(client, fake.scan(code.config_id, "wm-one"))
    add = LiveCodeAdd.objects.get()
    assert (add.customer_id, add.welcome) == (1, "suppressed")
    assert fake.welcomes == []
    assert Send.objects.get(pk=add.send_id).reason == "opted_out"


def test_an_add_whose_state_is_no_code_is_left_to_the_account(warehouse, account, fake, team, client):
    code = _code(team, welcome_text="欢迎！")
    fake.contact_ways[code.config_id]["state"] = "someone-elses"
    post_callback(client, fake.scan(code.config_id, "wm-new"))
    assert not LiveCodeAdd.objects.exists() and [w["text"] for w in fake.welcomes] == ["默认欢迎语"]


def test_after_a_resolve_the_add_belongs_to_the_customer_with_the_same_unionid(warehouse, account, fake, team,
                                                                              client, tmp_path):  # fmt: skip
    path = tmp_path / "members.csv"
    path.write_text("会员号,姓名,unionid\nM1,王爱丽,union-alice\n", encoding="utf-8")
    import_files([path], source="mini", format="generic",
                 mapping={"会员号": "record_id", "姓名": "name", "unionid": "id:unionid"})  # fmt: skip
    resolve_identities()
    code = _code(team)
    post_callback(client, fake.scan(code.config_id, "wm-alice", "Alice", unionid="union-alice"))
    assert LiveCodeAdd.objects.get().customer_id is None  # landed, not yet resolved
    resolve_identities()
    assert actions.link_adds_to_customers() == 1
    member = warehouse.raw_connection().execute(
        "SELECT customer_id FROM customer_map WHERE record_key = 'mini|M1'").fetchall()[0][0]  # fmt: skip
    assert LiveCodeAdd.objects.get().customer_id == member


def test_the_welcome_carries_the_code_material(warehouse, account, fake, team, client, settings, tmp_path):
    settings.UPLOADS_DIR = tmp_path
    card = save_material(None, kind="mini_program", title="会员中心", appid="wx0123456789abcdef",
                         page_path="pages/member/index", image=b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)  # fmt: skip
    code = _code(team, welcome_text="扫码有礼", welcome_material=card.pk)
    post_callback(client, fake.scan(code.config_id, "wm-new"))
    (welcome,) = fake.welcomes
    assert welcome["text"] == "扫码有礼" and welcome["attachments"][0]["miniprogram"]["page"] == "pages/member/index"
    note = save_material(None, kind="case", title="案例", body="没有图片")
    with pytest.raises(AcquisitionError, match="no picture"):
        actions.update_live_code(team["ops"], code.pk, welcome_material=note.pk)


def test_the_quality_of_a_code_counts_its_adds(warehouse, account, fake, team, client):
    code = _code(team, cost="300")
    for ext in ("wm-a", "wm-b", "wm-c"):
        post_callback(client, fake.scan(code.config_id, ext))
    rows = acquisition_quality(queries.codes_for_quality())
    (row,) = rows["code"]
    assert (str(row["key"]), row["state"], row["adds"]) == (str(code.pk), code.state, 3)
    assert sorted((r["key"], r["adds"]) for r in rows["staff"]) == [("guide1", 2), ("guide2", 1)]
