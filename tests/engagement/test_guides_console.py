"""Console pages of the content library and guide tasks."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from siyu.customers.actions import record_consent
from siyu.engagement.content.actions import save_material, save_script
from siyu.engagement.content.models import Script
from siyu.engagement.guides.models import GuideTask

pytestmark = pytest.mark.django_db
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_operator_creates_tasks_and_the_guide_works_them(shoppers):
    script = save_script(shoppers["ops"], title="回访", body="{name}您好，我是{guide}")
    ops = login(shoppers["ops"])
    due = (dt.datetime.now() + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = ops.post("/engagement/tasks/new/", {"script": script.pk, "customer_ids": "1, 2，3 4",
                                                   "due_at": due, "assign": "owner", "name": "回访批次"})  # fmt: skip
    assert response.status_code == 302
    assert GuideTask.objects.filter(status="open").count() == 3
    page = ops.get(response["Location"])
    assert page.status_code == 200 and "回访批次" in page.content.decode()

    g1 = login(shoppers["g1"])
    mine = g1.get("/engagement/tasks/").content.decode()
    assert "张女士您好，我是小王" in mine and "李先生您好" in mine and "王*" not in mine
    assert "138****0001" in mine
    other = GuideTask.objects.get(customer_id=3)
    assert g1.post(f"/engagement/tasks/{other.pk}/complete/", {"outcome": "reached"}).status_code == 403
    own = GuideTask.objects.get(customer_id=1)
    done = g1.post(
        f"/engagement/tasks/{own.pk}/complete/", {"outcome": "purchase_intent", "note": "周末到店"}
    )
    assert done.status_code == 302
    own.refresh_from_db()
    assert (own.status, own.outcome, own.note) == ("done", "purchase_intent", "周末到店")

    report = login(shoppers["m1"]).get("/engagement/tasks/report/").content.decode()
    assert 'data-guide="小王"' in report and 'data-done="1"' in report
    assert g1.get("/engagement/tasks/report/").status_code == 403
    assert g1.post("/engagement/tasks/new/", {"script": script.pk}).status_code == 403


def test_content_library_pages_and_buyer_show_images(shoppers, settings, tmp_path):
    settings.UPLOADS_DIR = tmp_path
    ops = login(shoppers["ops"])
    response = ops.post(
        "/engagement/content/scripts/", {"title": "生日祝福", "body": "{name}生日快乐", "group": "节日"}
    )
    assert response.status_code == 302
    assert "生日祝福" in ops.get("/engagement/content/", {"q": "生日"}).content.decode()
    record_consent(None, 1, "ugc", "opt_in", "授权")
    show = save_material(shoppers["ops"], kind="ugc", title="买家秀A", body="好用", customer_id=1, image=PNG)
    g1 = login(shoppers["g1"])
    page = g1.get("/engagement/content/", {"tab": "materials"}).content.decode()
    assert "买家秀A" in page and 'action="/engagement/content/materials/"' not in page  # no editing forms
    image = g1.get(f"/engagement/content/materials/{show.pk}/image/")
    assert image.status_code == 200 and b"".join(image.streaming_content) == PNG
    record_consent(None, 1, "ugc", "opt_out", "撤回")
    assert g1.get(f"/engagement/content/materials/{show.pk}/image/").status_code == 403
    assert "买家秀A" not in g1.get("/engagement/content/", {"tab": "materials"}).content.decode()
    assert g1.post("/engagement/content/scripts/", {"title": "x", "body": "y"}).status_code == 403
    assert not Script.objects.filter(title="x").exists()


def test_scripts_and_materials_are_edited_in_the_console(shoppers, settings, tmp_path):
    from siyu.engagement.content.models import Material

    settings.UPLOADS_DIR = tmp_path
    ops = login(shoppers["ops"])
    script = save_script(shoppers["ops"], title="回访", body="{name}您好", group="复购", tags="老客")
    page = ops.get("/engagement/content/", {"edit": script.pk}).content.decode()
    assert f'data-editing="{script.pk}"' in page and ">{name}您好</textarea>" in page and 'value="复购"' in page
    ops.post("/engagement/content/scripts/", {"script_id": script.pk, "title": "回访（新）", "body": "{name}，好久不见",
                                              "group": "复购", "tags": "老客,沉睡"})  # fmt: skip
    script.refresh_from_db()
    assert (script.title, script.body, script.tags) == ("回访（新）", "{name}，好久不见", "老客,沉睡")
    assert Script.objects.count() == 1  # changed, not added
    card = save_material(shoppers["ops"], kind="link", title="新品页", url="https://example.com/a", image=PNG)
    page = ops.get("/engagement/content/", {"tab": "materials", "edit": card.pk}).content.decode()
    assert 'value="https://example.com/a"' in page and 'name="material_id"' in page
    # no new image: the card keeps its thumbnail
    ops.post("/engagement/content/materials/", {"material_id": card.pk, "kind": "link", "title": "新品页 2",
                                                "url": "https://example.com/b"})  # fmt: skip
    card.refresh_from_db()
    assert (card.title, card.url, Material.objects.count()) == ("新品页 2", "https://example.com/b", 1)
    assert card.image
    # a guide gets no edit form, and cannot change a script by posting one
    g1 = login(shoppers["g1"])
    assert "data-editing" not in g1.get("/engagement/content/", {"edit": script.pk}).content.decode()
    assert g1.post("/engagement/content/scripts/", {"script_id": script.pk, "title": "x", "body": "y"}).status_code == 403
    script.refresh_from_db()
    assert script.title == "回访（新）"
