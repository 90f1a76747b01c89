"""The console's live code screens against the fake WeCom: an operator makes a code in the form (staff with
a weekly schedule, a special period, a backup and a limit), changes it behind the same printed QR code,
archives it and makes store codes; a mistake in the form is said in words and asks WeCom nothing; posters
download as PNG and PDF in every size; a guide cannot open an operator's page but has their own code on
their phone; the customer's profile says which code brought them."""

from __future__ import annotations

import io
import re

import pytest
from acquisition_helpers import post_callback
from PIL import Image

from siyu.acquisition import actions
from siyu.acquisition.models import LiveCode, LiveCodeAdd
from siyu.acquisition.posters import PRESETS
from siyu.engagement.content.actions import save_material
from siyu.identity.actions import resolve_identities
from siyu.ingest.actions import import_files

pytestmark = pytest.mark.django_db
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


@pytest.fixture
def ops(client, team):
    client.force_login(team["ops"])
    client.cookies["django_language"] = "zh-hans"
    return client


def _form(team, **extra) -> dict:
    g1, b1 = team["g1"].staff.pk, team["b1"].staff.pk
    return {
        "name": "包裹卡二维码", "channel": "package_card", "campaign": "年货节", "store": str(team["sh"].pk),
        "staff": [str(g1), str(b1)], f"backup_{b1}": "on", f"limit_{g1}": "40",
        f"from_{g1}_1": "09:00", f"to_{g1}_1": "18:00", f"from_{g1}_6": "10:00", f"to_{g1}_6": "22:00",
        f"periods_{g1}": "2026-12-24 2026-12-26 10:00-22:00\n2027-01-01",
        "skip_verify": "on", "verify_skip_from": "09:00", "verify_skip_until": "21:00",
        "welcome_text": "欢迎！扫码有礼", "auto_tags": ["渠道:包裹卡"], "daily_limit": "50", "cost": "1,200.50",
        **extra,
    }  # fmt: skip


def test_an_operator_makes_changes_and_archives_a_code_in_the_console(warehouse, account, fake, team, corp_tags, ops):
    page = ops.get("/acquisition/new/", **ZH).content.decode()
    assert "新建渠道活码" in page and "小王" in page and "小周" in page and "渠道:包裹卡" in page

    made = ops.post("/acquisition/new/", _form(team), **ZH)
    code = LiveCode.objects.get()
    assert made.status_code == 302 and made["Location"] == f"/acquisition/{code.pk}/"
    assert (code.name, code.channel, code.campaign, code.store, str(code.cost), code.daily_limit) == (
        "包裹卡二维码", "package_card", "年货节", team["sh"], "1200.50", 50)  # fmt: skip
    assert [t.label for t in code.auto_tags.all()] == ["渠道:包裹卡"]
    g1_row, b1_row = code.staff.order_by("backup")
    assert (g1_row.staff, g1_row.backup, g1_row.daily_limit) == (team["g1"].staff, False, 40)
    assert g1_row.schedule == {"1": [["09:00", "18:00"]], "6": [["10:00", "22:00"]]}
    assert g1_row.special_periods == [
        {"start": "2026-12-24", "end": "2026-12-26", "hours": [["10:00", "22:00"]]},
        {"start": "2027-01-01", "end": "2027-01-01", "off": True},
    ]
    assert (b1_row.staff, b1_row.backup, b1_row.schedule) == (team["b1"].staff, True, {})
    way = fake.contact_ways[code.config_id]
    assert way["state"] == code.state and way["type"] == 2

    # the code's page: the routing preview in words, the QR, posters in every size, the quality figures
    detail = ops.get(f"/acquisition/{code.pk}/", **ZH).content.decode()
    assert "活码已生成" in detail and "小周" in detail
    assert f"/acquisition/{code.pk}/qr.png" in detail
    for preset in PRESETS:
        assert f"?preset={preset}&amp;format=png" in detail and f"?preset={preset}&amp;format=pdf" in detail
    quality = detail.split('data-section="quality"', 1)[1]
    assert "<dt>添加人数</dt><dd>0</dd>" in quality and "7 日留存率" in quality and "每留存客户成本" in quality

    # the edit form shows what was saved; a change keeps the printed QR code
    edit = ops.get(f"/acquisition/{code.pk}/edit/", **ZH).content.decode()
    assert 'value="包裹卡二维码"' in edit and "2027-01-01" in edit and 'value="09:00"' in edit
    g2 = team["g2"].staff.pk
    changed = ops.post(f"/acquisition/{code.pk}/edit/", _form(team, name="包裹卡（新）", staff=[str(g2)]), **ZH)
    assert changed.status_code == 302
    code.refresh_from_db()
    assert code.name == "包裹卡（新）" and [r.staff for r in code.staff.all()] == [team["g2"].staff]
    assert fake.contact_ways[code.config_id]["user"] == ["guide2"] and code.qr_url == way["qr_code"]

    archived = ops.post(f"/acquisition/{code.pk}/archive/", **ZH)
    assert archived.status_code == 302
    code.refresh_from_db()
    assert code.archived and code.config_id not in fake.contact_ways
    after = ops.get(f"/acquisition/{code.pk}/", **ZH).content.decode()
    assert "活码已归档" in after and "归档活码" not in after
    assert ops.get(f"/acquisition/{code.pk}/edit/", **ZH).status_code == 302


def test_a_form_mistake_is_said_in_words_and_asks_wecom_nothing(warehouse, account, fake, team, corp_tags, ops):
    g1 = team["g1"].staff.pk
    wrong = ops.post("/acquisition/new/", _form(team, name="", cost="-5", **{f"to_{g1}_1": "08:00",
                                                                           f"periods_{g1}": "圣诞节"}), **ZH)  # fmt: skip
    page = wrong.content.decode()
    assert wrong.status_code == 400
    assert "请给活码起个名称。" in page
    assert "成本是以元为单位的金额，不能为负" in page
    assert "小王：每个上班日请填写开始时间和更晚的结束时间" in page
    assert "小王：特殊时段请写开始日期、结束日期和时间" in page
    notes = re.findall(r'class="error">([^<]+)<', page)
    assert len(notes) >= 4 and not [n for n in notes if re.search(r"[A-Za-z_]", n)]  # words, no field names
    # what was typed is kept
    assert 'value="年货节"' in page and "欢迎！扫码有礼" in page
    only_backup = ops.post("/acquisition/new/", _form(team, staff=[str(team["b1"].staff.pk)]), **ZH)
    assert "至少要有一位员工不是备用员工。" in only_backup.content.decode()
    nobody = ops.post("/acquisition/new/", _form(team, staff=[]), **ZH)
    assert "请至少选择一位接待添加的员工。" in nobody.content.decode()
    note = save_material(None, kind="case", title="案例", body="没有图片")
    no_picture = ops.post("/acquisition/new/", _form(team, welcome_material=str(note.pk)), **ZH)
    assert "此素材目前不能随企业微信消息发送" in no_picture.content.decode()
    assert LiveCode.objects.count() == 0 and fake.contact_ways == {}
    # in English, the same mistake in English words
    ops.cookies["django_language"] = "en"
    english = ops.post("/acquisition/new/", _form(team, name=""), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Give the code a name." in english


def test_when_wecom_refuses_the_operator_reads_why_and_nothing_is_made(warehouse, account, fake, team, ops):
    fake.members.clear()  # WeCom knows none of the staff members: add_contact_way refuses (40003)
    answer = ops.post("/acquisition/new/", _form(team, auto_tags=[]), **ZH)
    assert answer.status_code == 200
    assert "企业微信拒绝了此操作，未做任何更改" in answer.content.decode()
    assert LiveCode.objects.count() == 0


@pytest.mark.parametrize("preset", list(PRESETS))
def test_posters_download_as_png_and_pdf_in_every_size(warehouse, account, fake, team, ops, preset):
    code = actions.create_live_code(team["ops"], name="货架", staff=[team["g1"], team["g2"]], store=team["sh"])
    png = ops.get(f"/acquisition/{code.pk}/poster/", {"preset": preset, "format": "png", "title": "扫码领券",
                                                      "line1": "新客立减五元", "staff": team["g2"].staff.pk})  # fmt: skip
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert "attachment" in png["Content-Disposition"]
    image = Image.open(io.BytesIO(png.content))
    assert image.format == "PNG" and image.size == PRESETS[preset].pixels
    pdf = ops.get(f"/acquisition/{code.pk}/poster/", {"preset": preset, "format": "pdf"})
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")


def test_the_qr_image_and_an_unknown_poster_size(warehouse, account, fake, team, ops):
    code = actions.create_live_code(team["ops"], name="门口", staff=[team["g1"]])
    qr = ops.get(f"/acquisition/{code.pk}/qr.png")
    assert qr["Content-Type"] == "image/png" and Image.open(io.BytesIO(qr.content)).size[0] > 100
    assert ops.get(f"/acquisition/{code.pk}/poster/", {"preset": "billboard"}).status_code == 404
    for page in ("2", "abc", "0"):  # a page past the adds, or no page: the page still opens
        assert ops.get(f"/acquisition/{code.pk}/", {"page": page}).status_code == 200


def test_store_codes_from_the_console(warehouse, account, fake, team, ops):
    page = ops.get("/acquisition/store-codes/", **ZH).content.decode()
    assert "上海南京西路店" in page and "小王" in page
    made = ops.post("/acquisition/store-codes/", {"stores": [str(team["sh"].pk)]}, **ZH)
    assert made.status_code == 302
    code = LiveCode.objects.get(kind="store")
    assert code.store == team["sh"] and {r.staff.wecom_userid for r in code.staff.all()} == {"guide1", "guide2"}
    again = ops.get("/acquisition/store-codes/", **ZH).content.decode()
    assert "已生成 1 个门店活码" in again and f"/acquisition/{code.pk}/" in again


def test_a_guide_cannot_open_an_operators_page_but_has_their_own_code(warehouse, account, fake, team, client):
    code = actions.create_live_code(team["ops"], name="门口", staff=[team["g1"], team["g2"]])
    client.force_login(team["g1"])
    for path in ("/acquisition/", "/acquisition/new/", f"/acquisition/{code.pk}/", f"/acquisition/{code.pk}/edit/",
                 "/acquisition/quality/", "/acquisition/store-codes/", f"/acquisition/{code.pk}/poster/"):  # fmt: skip
        assert client.get(path).status_code == 403, path
    assert client.post(f"/acquisition/{code.pk}/archive/").status_code == 403
    assert not LiveCode.objects.get(pk=code.pk).archived

    phone = client.get("/acquisition/my-code/", **ZH)
    page = phone.content.decode()
    mine = LiveCode.objects.get(kind="guide")
    assert phone.status_code == 200 and "我的活码" in page and f"/acquisition/{mine.pk}/qr.png" in page
    assert [r.staff for r in mine.staff.all()] == [team["g1"].staff]
    post_callback(client, fake.scan(mine.config_id, "wm-phone"))
    assert "本周还没有人" not in client.get("/acquisition/my-code/", **ZH).content.decode()
    poster = client.get(f"/acquisition/{mine.pk}/poster/", {"preset": "shelf_a6", "format": "png"})
    assert poster.status_code == 200 and poster["Content-Type"] == "image/png"
    assert client.get(f"/acquisition/{mine.pk}/qr.png").status_code == 200
    # another guide cannot print it
    client.force_login(team["g2"])
    assert client.get(f"/acquisition/{mine.pk}/poster/").status_code == 403


def test_a_staff_member_without_wecom_reads_why_there_is_no_code(warehouse, account, team, client):
    client.force_login(team["g4"])
    page = client.get("/acquisition/my-code/", **ZH).content.decode()
    assert "你的账号还没有绑定企业微信" in page and LiveCode.objects.count() == 0


def test_the_quality_page_compares_codes_in_each_tab(warehouse, account, fake, team, ops, client):
    code = actions.create_live_code(team["ops"], name="收银台", channel="receipt", campaign="双十二",
                                    store=team["sh"], staff=[team["g1"]], cost="300")  # fmt: skip
    for ext in ("wm-a", "wm-b"):
        post_callback(client, fake.scan(code.config_id, ext))
    by_code = ops.get("/acquisition/quality/", {"by": "code"}, **ZH).content.decode()
    assert "收银台" in by_code and "¥300.00" in by_code and "¥150.00" in by_code  # cost per retained
    assert "上海南京西路店" in ops.get("/acquisition/quality/", {"by": "store"}, **ZH).content.decode()
    assert "小王" in ops.get("/acquisition/quality/", {"by": "staff"}, **ZH).content.decode()
    assert "小票" in ops.get("/acquisition/quality/", {"by": "channel"}, **ZH).content.decode()
    assert "双十二" in ops.get("/acquisition/quality/", {"by": "campaign"}, **ZH).content.decode()
    before = ops.get("/acquisition/quality/", {"by": "code", "from": "2020-01-01", "to": "2020-01-31"}, **ZH)
    assert "¥150.00" not in before.content.decode()  # no adds in that range


def test_the_profile_says_which_code_brought_the_customer(warehouse, account, fake, team, ops, client, tmp_path):
    path = tmp_path / "members.csv"
    path.write_text("会员号,姓名,unionid\nM1,王爱丽,union-alice\n", encoding="utf-8")
    import_files([path], source="mini", format="generic",
                 mapping={"会员号": "record_id", "姓名": "name", "unionid": "id:unionid"})  # fmt: skip
    code = actions.create_live_code(team["ops"], name="收银台", channel="receipt", campaign="双十二",
                                    staff=[team["g1"]])  # fmt: skip
    post_callback(client, fake.scan(code.config_id, "wm-alice", "Alice", unionid="union-alice"))
    resolve_identities()  # the landed WeCom contact joins the member by unionid; the add is not linked yet
    assert LiveCodeAdd.objects.get().customer_id is None
    member = warehouse.raw_connection().execute(
        "SELECT customer_id FROM customer_map WHERE record_key = 'mini|M1'").fetchall()[0][0]  # fmt: skip
    profile = ops.get(f"/customers/{member}/", **ZH).content.decode()
    origin = profile.split('id="origin"', 1)[1].split("</section>", 1)[0]
    assert "收银台" in origin and "小票" in origin and "双十二" in origin and "小王" in origin
    detail = ops.get(f"/acquisition/{code.pk}/", **ZH).content.decode()
    assert f"/customers/{member}/" in detail
