"""Access and copy (PIPL art. 45) and correction (art. 46) on the privacy request queue: one archive holds
everything held about a person across both planes — records from two sources merged into one customer, in
clear, the rows as imported, orders, touches, consents, points, survey answers, merges, tags, notes, guide
tasks, chat messages — and nothing of anyone else; CSV headers are Chinese and no cell runs as a formula;
only the queue's roles get it, audited. A correction shows in the profile and in the request's steps."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from siyu.api.actions import create_token
from siyu.community.archive.actions import import_chat_archive
from siyu.core.errors import PermissionDenied
from siyu.core.models import AuditLog
from siyu.customers import actions as customer_actions
from siyu.customers import queries as customer_queries
from siyu.customers.actions import add_note, add_tag, record_consent
from siyu.engagement.guides.models import GuideTask, TaskBatch
from siyu.engagement.messaging.models import Send
from siyu.identity.actions import resolve_identities
from siyu.ingest.actions import ingest_api_records
from siyu.loyalty.points.actions import award_points
from siyu.privacy import actions, queries
from siyu.privacy.archive import JSON_NAME, build_archive, person_sections
from siyu.privacy.errors import PrivacyError
from siyu.privacy.models import DataRequest
from siyu.staff.actions import create_user
from siyu.surveys import actions as survey_actions

pytestmark = pytest.mark.django_db

UTC = dt.UTC
PHONE = "13800138001"
OTHER_PHONE = "13900139002"
WECOM_ID = "wmZhangWeiExternal0001"
OTHER_WECOM_ID = "wmLiNaExternal0002"


def _order(order_id, name, phone, amount, **extra):
    return {"record_id": order_id, "order_id": order_id, "name": name, "phone": phone, "amount": amount,
            "order_time": dt.datetime(2026, 3, 1, 10, tzinfo=UTC), "status": "交易成功",
            "items": [{"product": "玫瑰精华水", "quantity": "1", "amount": amount}], **extra}  # fmt: skip


@pytest.fixture
def person(warehouse, db, tmp_path):
    """张伟: a shop order (phone), then a WeCom contact with her external_userid and email (another source, at
    first another customer), merged into one by a second shop order carrying both. 李娜: another customer.
    Then a consent, a tag, a note, points, a survey answer, a send, a guide task and chat messages."""
    ops = create_user("ops", "pw-ops-1", "operator", display_name="运营小张")
    ingest_api_records("shop", "order", [_order("SO-1", "张伟", PHONE, "299.00"),
                                         _order("SO-9", "李娜", OTHER_PHONE, "58.00", **{"id:external_userid": OTHER_WECOM_ID})])  # fmt: skip
    resolve_identities()
    ingest_api_records("wecom", "event", [{"record_id": "C-1", "event_id": "E-1", "event_type": "wecom_contact_added", "name": "张伟",
                                           "email": "zhangwei@example.com", "id:external_userid": WECOM_ID,
                                           "occurred_at": dt.datetime(2026, 3, 2, 9, tzinfo=UTC)}])  # fmt: skip
    resolve_identities()
    ingest_api_records("shop", "order", [_order("SO-2", "张伟", PHONE, "88.00", **{"id:external_userid": WECOM_ID})])
    resolve_identities()
    cid = _customer_with_phone(PHONE)
    other = _customer_with_phone(OTHER_PHONE)
    assert cid != other

    now = timezone.now()
    record_consent(None, cid, "sms", "opt_out", "会员中心")
    record_consent(None, other, "email", "opt_out", "李娜的退订")
    add_tag(None, [cid], "高价值")
    add_note(ops, cid, "=HYPERLINK(\"http://x\") 来电要求寄样")
    add_note(ops, other, "李娜的备注")
    award_points(cid, 120, key="pts-1", reason="注册礼", source="manual")
    award_points(other, 7, key="pts-2", reason="李娜的积分", source="manual")
    survey = survey_actions.make_survey(ops, title="肤质小调查", questions=[
        {"text": "您的肤质是？", "kind": "single", "options": [{"label": "干性"}, {"label": "油性"}]}])  # fmt: skip
    survey_actions.open_survey(ops, survey.pk)
    question = survey.questions.get()
    oily = question.options.get(label="油性")
    survey_actions.record_response(survey.pk, cid, {str(question.pk): oily.pk}, key="resp-1")
    Send.objects.create(idempotency_key="send-1", channel="sms", customer_id=cid, content="张伟您好，新品到店",
                        status="sent", scheduled_at=now, sent_at=now)  # fmt: skip
    Send.objects.create(idempotency_key="send-2", channel="sms", customer_id=other, content="李娜您好",
                        status="sent", scheduled_at=now, sent_at=now)  # fmt: skip
    batch = TaskBatch.objects.create(name="春季回访", due_at=now)
    GuideTask.objects.create(batch=batch, customer_id=cid, message="张姐，春季新品到了", due_at=now)
    lines = [
        {"msgid": "m1", "action": "send", "from": WECOM_ID, "tolist": ["guide1"], "roomid": "", "msgtime": 1764000000000,
         "msgtype": "text", "text": {"content": "你好，我想问下精华水"}},
        {"msgid": "m2", "action": "send", "from": "guide1", "tolist": [WECOM_ID], "roomid": "", "msgtime": 1764000060000,
         "msgtype": "text", "text": {"content": "您好张姐，有货"}},
        {"msgid": "m3", "action": "send", "from": OTHER_WECOM_ID, "tolist": ["guide1"], "roomid": "",
         "msgtime": 1764000120000, "msgtype": "text", "text": {"content": "李娜的消息"}},
    ]  # fmt: skip
    archive = tmp_path / "chat.jsonl"
    archive.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8")
    import_chat_archive(archive)
    return {"cid": cid, "other": other, "ops": ops,
            "admin": create_user("boss", "pw-boss-1", "admin"),
            "guide": create_user("g1", "pw-g1-1", "guide", display_name="小王")}  # fmt: skip


def _customer_with_phone(phone: str) -> int:
    from siyu.engagement.messaging.channel_actions import customers_with_phone

    return customers_with_phone(phone)[0][0]


def _sections(content: bytes) -> tuple[dict, dict[str, list[list[str]]]]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        everything = json.loads(archive.read(JSON_NAME))
        tables = {}
        for name in archive.namelist():
            if name.endswith(".csv"):
                text = archive.read(name).decode("utf-8-sig")
                tables[name.split("_", 1)[1].removesuffix(".csv")] = list(csv.reader(io.StringIO(text)))
    return everything, tables


def test_the_copy_holds_every_section_of_the_person_in_clear_and_nothing_of_anyone_else(person):
    request = actions.open_request(customer_id=person["cid"], kind="access", source="staff",
                                   verification="到店核对身份证", requested_by=person["ops"])  # fmt: skip
    name, content, summary = actions.copy_of_person(person["ops"], request_id=request.pk)
    assert name.endswith(".zip") and str(person["cid"]) in name
    everything, tables = _sections(content)
    data = everything["数据"]
    assert everything["客户编号"] == person["cid"]
    for section in ("基本资料", "各渠道记录", "导入的原始数据", "订单", "授权与退订", "标签", "员工备注", "积分明细",
                    "问卷回答", "身份合并记录", "触达消息", "导购任务", "会话存档消息", "个人信息请求"):
        assert data[section], f"{section} is empty"
        assert section in tables and len(tables[section]) == len(data[section]) + 1
    assert data["基本资料"][0]["手机号"] == PHONE  # decrypted, not masked
    assert data["基本资料"][0]["邮箱"] == "zhangwei@example.com"
    assert {r["来源"] for r in data["各渠道记录"]} == {"shop", "wecom"}  # two sources, one customer
    assert {r["订单号"] for r in data["订单"]} == {"SO-1", "SO-2"}
    imported = data["导入的原始数据"]
    assert {r["记录"] for r in imported} >= {"shop|SO-1", "shop|SO-2", "wecom|C-1"}
    assert any(r["原始内容"].get("phone") == PHONE for r in imported)  # the rows as imported, decrypted
    assert data["积分明细"][0]["积分"] == 120
    assert data["问卷回答"][0]["回答"] == "油性" and data["问卷回答"][0]["问题"] == "您的肤质是？"
    assert data["触达消息"][0]["内容"] == "张伟您好，新品到店"
    assert (data["触达消息"][0]["渠道"], data["触达消息"][0]["状态"]) == ("短信", "已发送")  # the choices' Chinese
    assert data["导购任务"][0]["话术"] == "张姐，春季新品到了"
    assert [m["内容"] for m in data["会话存档消息"]] == ["你好，我想问下精华水", "您好张姐，有货"]
    assert data["授权与退订"][0]["渠道"] == "短信"
    text = json.dumps(everything, ensure_ascii=False)
    for someone_else in ("李娜", OTHER_PHONE, "SO-9", OTHER_WECOM_ID):
        assert someone_else not in text
    assert summary["rows"] == sum(len(rows) for rows in data.values())


def test_csv_headers_are_chinese_and_no_cell_runs_as_a_formula(person, tmp_path):
    out = tmp_path / "copy.zip"
    printed = io.StringIO()
    call_command("privacy", "copy", str(person["cid"]), str(out), "--json", stdout=printed)  # `siyu privacy copy`
    assert json.loads(printed.getvalue())["rows"] > 0
    assert out.stat().st_mode & 0o777 == 0o600  # the person's data in clear: readable by the owner only
    _everything, tables = _sections(out.read_bytes())
    assert tables["订单"][0][:3] == ["订单号", "来源", "订单状态"]
    for rows in tables.values():
        assert all(not h.isascii() for h in rows[0]), rows[0]  # every header is Chinese words, no codes
    note = tables["员工备注"][1][0]
    assert note.startswith("'=HYPERLINK"), note  # neutralised (siyu.core.spreadsheet.formula_safe)
    for rows in tables.values():
        for row in rows[1:]:
            assert not any(c.startswith(("=", "+", "@")) for c in row)
    assert AuditLog.objects.filter(action="privacy_copy", target=str(person["cid"])).count() == 1

    # the copy's words are gettext messages: Chinese unless English is asked for (the privacy catalogue)
    english = tmp_path / "copy-en.zip"
    call_command("privacy", "copy", str(person["cid"]), str(english), "--language", "en", stdout=io.StringIO())
    with zipfile.ZipFile(english) as archive:
        names = archive.namelist()
        everything = json.loads(archive.read("All data.json"))
        readme = archive.read("Read me.txt").decode()
    assert "01_Profile.csv" in names and "02_Profile corrections.csv" in names
    assert everything["Customer ID"] == person["cid"]
    assert everything["Data"]["Profile"][0]["Phone"] == PHONE
    assert list(everything["Data"]["Orders placed"][0])[:3] == ["Order number", "Source", "Order status"]
    assert readme.startswith(f"The copy of the personal information of customer {person['cid']}, exported at ")
    assert "01_Profile.csv: Profile, 1 rows" in readme
    # the values that are the product's words (model choices' labels) are English too
    touch = everything["Data"]["Messages sent"][0]
    assert (touch["Channel"], touch["Sent from"], touch["Status"]) == ("SMS", "Manual", "Sent")
    assert everything["Data"]["Guide tasks"][0]["Status"] == "Open"
    with pytest.raises(PrivacyError):
        actions.copy_of_person(None, person["cid"], language="fr")


def test_a_download_is_a_step_of_the_request_and_only_the_queue_roles_get_it(person):
    request = actions.open_request(customer_id=person["cid"], kind="access", source="member_centre",
                                   verification="短信验证码")  # fmt: skip
    with pytest.raises(PermissionDenied):
        actions.copy_of_person(person["guide"], request_id=request.pk)
    client = Client()
    client.force_login(person["guide"])
    assert client.post(f"/privacy/requests/{request.pk}/copy/").status_code == 403
    client.force_login(person["admin"])
    page = client.get(f"/privacy/requests/{request.pk}/")
    assert f"/privacy/requests/{request.pk}/copy/" in page.content.decode()
    response = client.post(f"/privacy/requests/{request.pk}/copy/")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"]
    _everything, tables = _sections(b"".join(response.streaming_content) if response.streaming else response.content)
    assert "订单" in tables
    steps = [s.action for s in queries.steps_of(DataRequest.objects.get(pk=request.pk))]
    assert steps == ["opened", "copied"]
    assert AuditLog.objects.filter(action="privacy_request_copied", target=str(person["cid"])).count() == 1

    no_role = get_user_model().objects.create_user("integrator", password="x" * 12)  # an account with no role
    token = create_token(no_role, "shop")
    api = Client()
    url = f"/api/privacy/requests/{request.pk}/copy"
    assert api.get(url, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 403
    guide_token = create_token(person["guide"], "phone")
    assert api.get(url, HTTP_AUTHORIZATION=f"Bearer {guide_token}").status_code == 403
    ops_token = create_token(person["ops"], "desk")
    got = api.get(url, HTTP_AUTHORIZATION=f"Bearer {ops_token}")
    assert got.status_code == 200 and got["Content-Type"] == "application/zip"
    with pytest.raises(PrivacyError):  # a copy carries out an access request only
        correction = actions.open_request(customer_id=person["cid"], kind="correction", source="member_centre",
                                          verification="短信验证码")  # fmt: skip
        actions.copy_of_person(person["ops"], request_id=correction.pk)


def test_a_correction_shows_in_the_profile_and_in_the_steps_and_closing_names_what_changed(person):
    cid = person["cid"]
    request = actions.open_request(customer_id=cid, kind="correction", source="member_centre",
                                   verification="短信验证码", detail="我的名字写错了，手机号也换了")  # fmt: skip
    with pytest.raises(PermissionDenied):
        actions.correct_for_request(person["guide"], request.pk, {"name": "张薇"})
    with pytest.raises(PrivacyError):
        actions.correct_for_request(person["ops"], request.pk, {"phone": "不是号码"})
    client = Client()
    client.force_login(person["ops"])
    page = client.get(f"/privacy/requests/{request.pk}/").content.decode()
    assert 'name="name"' in page and "张伟" in page  # the form shows the profile as it is
    client.post(f"/privacy/requests/{request.pk}/correct/",
                {"name": "张薇", "phone": "13700137007", "birthday": "1990-05-06", "gender": "女", "email": "",
                 "address": ""})  # fmt: skip
    profile = customer_queries.get_profile(person["admin"], cid)
    assert (profile["name"], profile["phone"], str(profile["birthday"]), profile["gender"]) == (
        "张薇", "13700137007", "1990-05-06", "F")
    assert customer_queries.own_profile(cid)["name"] == "张薇"
    listed = {i["customer_id"]: i for i in customer_queries.list_customers(person["admin"]).items}
    assert (listed[cid]["name"], listed[cid]["phone"]) == ("张薇", "13700137007")  # the list shows it too
    found = DataRequest.objects.get(pk=request.pk)
    steps = [(s.action, s.note) for s in queries.steps_of(found)]
    assert steps[-1][0] == "corrected" and "姓名" in steps[-1][1] and "手机号" in steps[-1][1]
    assert "张薇" not in steps[-1][1]  # the values are PII: kept encrypted with the correction, not in the steps
    assert found.status == "in_progress"
    actions.close_request(person["ops"], request.pk, done=True, note="已按客户要求更正")
    closing = queries.steps_of(DataRequest.objects.get(pk=request.pk))[-1].note
    assert closing.startswith("已按客户要求更正") and "姓名" in closing and "生日" in closing
    audited = AuditLog.objects.get(action="correct_profile", target=str(cid))
    assert set(audited.detail["fields"]) == {"name", "phone", "birthday", "gender"}
    other = actions.open_request(customer_id=cid, kind="correction", source="member_centre", verification="短信验证码")
    api = Client(headers={"Authorization": f"Bearer {create_token(person['ops'], 'desk')}", "Idempotency-Key": "c-1"})
    answer = api.post(f"/api/privacy/requests/{other.pk}/corrections", {"address": "上海市静安区南京西路 1 号"},
                      content_type="application/json")  # fmt: skip
    assert answer.status_code == 200 and answer.json()["corrected"] == ["address"]
    assert customer_queries.own_profile(cid)["address"] == "上海市静安区南京西路 1 号"
    guide_api = Client(headers={"Authorization": f"Bearer {create_token(person['guide'], 'x')}", "Idempotency-Key": "c-2"})
    assert guide_api.post(f"/api/privacy/requests/{other.pk}/corrections", {"name": "某人"},
                          content_type="application/json").status_code == 403  # fmt: skip
    # the copy shows the corrected profile and the corrections
    _name, content, _summary = actions.copy_of_person(person["ops"], cid)
    everything, _tables = _sections(content)
    assert everything["数据"]["基本资料"][0]["姓名"] == "张薇"
    assert {c["字段"] for c in everything["数据"]["资料更正记录"]} == {"姓名", "手机号", "生日", "性别", "地址"}


def test_a_correction_follows_a_merge_and_the_corrected_phone_finds_and_reaches_the_customer(warehouse, db):
    """張伟's shop order and her WeCom contact are two customers until an order carrying both merges them. She
    corrected her name and phone on the WeCom customer (the absorbed one): the merged profile shows them, the
    new phone finds her in the console's search and for SMS replies and sign-in, the old one no longer
    signs in as her, and an SMS to her goes to the corrected number (undoing a merge: tests/identity)."""
    from siyu.customers.actions import correct_profile, follow_merges
    from siyu.engagement.messaging.queries import addresses_for

    ops = create_user("ops", "pw-ops-1", "operator", display_name="运营小张")
    admin = create_user("boss", "pw-boss-1", "admin")
    new_phone = "13700137007"
    ingest_api_records("shop", "order", [_order("SO-1", "张伟", PHONE, "299.00")])
    resolve_identities()
    ingest_api_records("wecom", "event", [{"record_id": "C-1", "event_id": "E-1", "event_type": "wecom_contact_added",
                                           "name": "张伟", "id:external_userid": WECOM_ID,
                                           "occurred_at": dt.datetime(2026, 3, 2, 9, tzinfo=UTC)}])  # fmt: skip
    resolve_identities()
    survivor = _customer_with_phone(PHONE)
    (absorbed,) = {i["customer_id"] for i in customer_queries.list_customers(admin).items} - {survivor}
    assert absorbed > survivor
    assert correct_profile(ops, absorbed, {"name": "张薇", "phone": new_phone}, reason="privacy request 1") == [
        "name", "phone"]  # fmt: skip

    ingest_api_records("shop", "order", [_order("SO-2", "张伟", PHONE, "88.00", **{"id:external_userid": WECOM_ID})])
    report = resolve_identities()
    assert follow_merges(report.run_id)["merges_followed"] == 1
    profile = customer_queries.get_profile(admin, survivor)
    assert (profile["name"], profile["phone"]) == ("张薇", new_phone)
    assert customer_queries.own_profile(survivor)["phone"] == new_phone

    from siyu.engagement.messaging.channel_actions import customers_with_phone

    for typed in (new_phone, "137 0013 7007", "+86 137-0013-7007"):
        found = customer_queries.list_customers(admin, q=typed).items
        assert [i["customer_id"] for i in found] == [survivor], typed
    assert customers_with_phone(new_phone) == ([survivor], None)  # no record holds it: her correction does
    assert customers_with_phone(PHONE)[0] == []  # she said that number is not hers: it signs nobody in as her
    assert addresses_for([survivor], "phone")[survivor].fields == {"phone": "+86" + new_phone}


CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


def test_every_section_name_and_header_is_in_the_language_of_the_copy(person):
    """The sections the domains above privacy register (points, survey answers, merges, touches, guide
    tasks, chat messages) are named in English in an English copy, as privacy's own are, and stay Chinese in
    the Chinese copy."""
    cid = person["cid"]
    customer_actions.correct_profile(person["admin"], cid, {"name": "张薇"}, reason="客户来电")
    actions.open_request(customer_id=cid, kind="access", source="member_centre", verification="短信验证码")
    english = person_sections(cid, "en")
    chinese = person_sections(cid)
    assert [name for name, *_ in english] == [name for name, *_ in chinese]
    assert len(english) >= 16  # privacy's ten and the domains' six at least
    for (name, label, headers, rows), (_n, label_zh, headers_zh, _r) in zip(english, chinese, strict=True):
        assert rows, f"{name}: the person has no data there, so the test would not see its headers"
        assert not CJK.search(label) and not any(CJK.search(h) for h in headers), (name, label, headers)
        assert CJK.search(label_zh) and all(CJK.search(h) for h in headers_zh), (name, label_zh, headers_zh)
    by_name = {name: (label, headers) for name, label, headers, _rows in english}
    assert by_name["points"] == ("Points history", ["Time", "Points", "Source", "Account", "Reason", "Reference",
                                                    "Handled by", "Expires at"])  # fmt: skip
    assert by_name["survey_answers"][0] == "Survey answers" and by_name["chat_messages"][0] == "Archived chat messages"
    assert {name: label for name, label, *_ in chinese}["touches"] == "触达消息"
    content, _summary = build_archive(cid, language="en")
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        names = archive.namelist()
        everything = json.loads(archive.read("All data.json"))
    assert not any(CJK.search(n) for n in names), names  # the CSV files are named by their sections
    assert everything["Data"]["Points history"][0]["Points"] == 120
    assert everything["Data"]["Survey answers"][0]["Question"] == "您的肤质是？"  # the person's data stay as held
    assert [m["Sent by the person"] for m in everything["Data"]["Archived chat messages"]] == ["Yes", "No"]
    assert everything["Data"]["Messages sent"][0]["Marketing message"] in ("Yes", "No")
    chats = next(rows for name, _label, _headers, rows in chinese if name == "chat_messages")
    assert [m["本人发送"] for m in chats] == ["是", "否"]
