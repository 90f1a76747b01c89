"""The content-library and guide-task API: idempotent writes, role scoping, masking, 403/404."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from django.test import Client

from siyu.api.actions import create_token
from siyu.customers.actions import record_consent

pytestmark = pytest.mark.django_db
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def api(user):
    return Client(headers={"Authorization": f"Bearer {create_token(user, 'tests')}"})


def post(client, path, body, key):
    return client.post(path, data=json.dumps(body), content_type="application/json",
                       headers={"Idempotency-Key": key})  # fmt: skip


def test_content_and_tasks_through_the_api(shoppers, settings, tmp_path):
    settings.UPLOADS_DIR = tmp_path
    ops, g1, g2 = api(shoppers["ops"]), api(shoppers["g1"]), api(shoppers["g2"])
    body = {
        "title": "回访",
        "body": "{name}您好，{product}用得怎么样？{coupon}",
        "group": "复购",
        "tags": ["回访"],
    }
    script = post(ops, "/api/scripts", body, "s1")
    assert script.status_code == 201, script.content
    assert script.json()["unknown_variables"] == ["coupon"]
    again = post(ops, "/api/scripts", body, "s1")
    assert again.json()["id"] == script.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert post(g1, "/api/scripts", body, "s2").status_code == 403
    assert [s["title"] for s in g1.get("/api/scripts", {"q": "回访"}).json()] == ["回访"]
    sid = script.json()["id"]
    rendered = g1.get(f"/api/scripts/{sid}/render", {"customer_id": 1}).json()
    assert rendered == {"text": "张女士您好，玫瑰精华水用得怎么样？{coupon}", "missing": ["coupon"]}
    assert g1.get(f"/api/scripts/{sid}/render", {"customer_id": 3}).status_code == 403
    assert ops.get("/api/scripts/999999/render", {"customer_id": 1}).status_code == 404

    image = post(
        ops,
        "/api/materials",
        {"kind": "image", "title": "海报", "image_base64": base64.b64encode(PNG).decode()},
        "m1",
    )
    assert image.status_code == 201 and image.json()["has_image"]
    ugc = {"kind": "ugc", "title": "买家秀", "body": "好用", "customer_id": 1}
    assert post(ops, "/api/materials", ugc, "m2").status_code == 400  # no consent yet
    record_consent(None, 1, "ugc", "opt_in", "评价授权")
    show = post(ops, "/api/materials", ugc, "m3").json()
    assert g1.get("/api/materials", {"kind": "ugc"}).json()[0]["customer_id"] is None  # not for guides
    record_consent(None, 1, "ugc", "opt_out", "撤回")
    assert g1.get("/api/materials", {"kind": "ugc"}).json() == []
    assert g1.get(f"/api/materials/{show['id']}").status_code == 400

    due = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    batch = post(ops, "/api/task-batches", {"script_id": sid, "due_at": due, "customer_ids": [1, 2, 3, 4],
                                            "variables": {"coupon": "满199减30"}}, "b1")  # fmt: skip
    assert batch.status_code == 201, batch.content
    assert batch.json()["open"] == 3 and batch.json()["counts"]["suppressed"] == {"no_owner": 1}
    assert post(ops, "/api/task-batches", {"script_id": sid, "due_at": due, "customer_ids": [1, 2, 3, 4],
                                           "variables": {"coupon": "满199减30"}}, "b1").json()["id"] == batch.json()["id"]  # fmt: skip
    mine = g1.get("/api/tasks").json()
    assert mine["total"] == 2 and {t["customer_phone"] for t in mine["items"]} == {
        "138****0001",
        "138****0002",
    }
    task = next(t for t in mine["items"] if t["customer_id"] == 1)
    assert task["message"].endswith("满199减30")
    assert g2.get(f"/api/tasks/{task['id']}").status_code == 403
    assert post(g2, f"/api/tasks/{task['id']}/complete", {"outcome": "reached"}, "c1").status_code == 403
    done = post(g1, f"/api/tasks/{task['id']}/complete", {"outcome": "reached", "note": "已加微信"}, "c1")
    assert done.status_code == 200 and done.json()["status"] == "done"
    assert (
        post(
            g1, f"/api/tasks/{task['id']}/complete", {"outcome": "reached", "note": "已加微信"}, "c1"
        ).status_code
        == 200
    )
    assert post(g1, f"/api/tasks/{task['id']}/complete", {"outcome": "declined"}, "c2").status_code == 400
    assert g1.get("/api/tasks/999999").status_code == 404
    assert g1.get("/api/guide-report").status_code == 403
    report = api(shoppers["m1"]).get("/api/guide-report").json()
    assert {r["guide"]: (r["tasks"], r["done"]) for r in report["items"]} == {"小王": (2, 1), "小李": (1, 0)}


def test_open_tasks_are_reassigned_through_the_api_and_the_console(shoppers):
    from siyu.engagement.content.actions import save_script
    from siyu.engagement.guides.actions import create_guide_tasks
    from siyu.engagement.guides.models import GuideTask

    script = save_script(shoppers["ops"], title="回访", body="我是{guide}")
    due = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    batch = create_guide_tasks(shoppers["ops"], script=script, due_at=due, customer_ids=[1, 2])
    ids = sorted(GuideTask.objects.filter(batch=batch).values_list("pk", flat=True))
    ops, g1 = api(shoppers["ops"]), api(shoppers["g1"])
    body = {"task_ids": ids, "guide_id": shoppers["g2"].pk}
    assert post(g1, "/api/tasks/reassign", body, "r1").status_code == 403
    moved = post(ops, "/api/tasks/reassign", body, "r2")
    assert moved.status_code == 200 and moved.json() == {"moved": 2}
    assert post(ops, "/api/tasks/reassign", body, "r2").headers["Idempotent-Replayed"] == "true"
    assert {t["message"] for t in api(shoppers["g2"]).get("/api/tasks").json()["items"]} == {"我是小李"}
    assert post(ops, "/api/tasks/reassign", {**body, "guide_id": 999999}, "r3").status_code == 400
    # the console: tick tasks, choose the guide
    console = Client()
    console.force_login(shoppers["m1"])
    page = console.get("/engagement/tasks/").content.decode()
    assert 'form="reassign-form"' in page and "小赵" not in page.split('id="reassign-form"')[1].split("</select>")[0]
    console.post("/engagement/tasks/reassign/", {"task": [str(i) for i in ids], "guide": shoppers["g1"].pk,
                                                 "transfer": "on"})  # fmt: skip
    assert set(GuideTask.objects.values_list("guide_id", flat=True)) == {shoppers["g1"].pk}
    assert set(GuideTask.objects.values_list("message", flat=True)) == {"我是小王"}
