"""The customer-groups API (mounted as siyu.api.api will): a guide lists only their own groups, an operator
sets a group's type, makes a group code and sends a group message; errors are JSON with a status."""

from __future__ import annotations

import pytest
from django.test import Client

from siyu.api.actions import create_token
from siyu.community.groups.actions import sync_groups
from siyu.community.groups.models import CustomerGroup
from siyu.staff.actions import create_user

pytestmark = [pytest.mark.django_db, pytest.mark.urls("groups_api_urls")]


def _client(user):
    return Client(headers={"Authorization": f"Bearer {create_token(user, 'tests')}"})


@pytest.fixture
def groups(fake, account, warehouse):
    fake.make_group("owner1", "导购的群", members=["wm-1", "wm-2"])
    fake.make_group("owner2", "别人的群", members=["wm-3"])
    sync_groups()
    return {g.name: g for g in CustomerGroup.objects.all()}


def test_a_guide_sees_only_their_groups_and_an_operator_manages_them(fake, groups):
    guide = _client(create_user("g-one", "pw-1-guide", "guide", wecom_userid="owner1"))
    listed = guide.get("/api/community/groups").json()
    assert [g["name"] for g in listed["items"]] == ["导购的群"] and listed["total"] == 1
    assert guide.get(f"/api/community/groups/{groups['别人的群'].pk}").status_code == 403
    assert guide.get("/api/community/groups/999999").status_code == 404
    members = guide.get(f"/api/community/groups/{groups['导购的群'].pk}/members").json()
    assert sorted(m["member_id"] for m in members["items"]) == ["owner1", "wm-1", "wm-2"]
    assert guide.get("/api/community/groups/health").status_code == 403

    operator = _client(create_user("op", "pw-operator-1", "operator"))
    changed = operator.post(f"/api/community/groups/{groups['导购的群'].pk}", {"group_type": "welfare", "tags": ["静安"]},
                            content_type="application/json", headers={"Idempotency-Key": "k1"})  # fmt: skip
    assert changed.status_code == 200 and changed.json()["group_type"] == "welfare"
    code = operator.post("/api/community/group-codes", {"name": "福利码", "group_ids": [groups["导购的群"].pk],
                                                         "state": "bag"},
                         content_type="application/json", headers={"Idempotency-Key": "k2"})  # fmt: skip
    assert code.status_code == 201 and code.json()["config_id"] in fake.join_ways
    too_long = operator.post("/api/community/group-codes", {"name": "x", "group_ids": [1], "state": "s" * 31},
                             content_type="application/json", headers={"Idempotency-Key": "k3"})  # fmt: skip
    assert too_long.status_code == 422
    sent = operator.post("/api/community/group-messages", {"group_ids": [groups["别人的群"].pk], "text": "福利"},
                         content_type="application/json", headers={"Idempotency-Key": "k4"})  # fmt: skip
    assert sent.status_code == 201 and list(sent.json()["msgids"]) == ["owner2"]
    health = operator.get("/api/community/groups/health").json()
    assert health["size"][-1]["members"] == 3 and health["gmv"]["members"]["customers"] == 0


def test_codes_and_welcome_messages_through_the_api(fake, groups):
    operator = _client(create_user("op", "pw-operator-1", "operator"))
    post = {"content_type": "application/json"}
    code = operator.post("/api/community/group-codes", {"name": "福利码", "group_ids": [groups["导购的群"].pk]},
                         headers={"Idempotency-Key": "c1"}, **post).json()  # fmt: skip
    changed = operator.post(f"/api/community/group-codes/{code['id']}", {"group_ids": [groups["别人的群"].pk]},
                            headers={"Idempotency-Key": "c2"}, **post)  # fmt: skip
    assert changed.status_code == 200 and changed.json()["group_ids"] == [groups["别人的群"].pk]
    assert [c["id"] for c in operator.get("/api/community/group-codes").json()] == [code["id"]]
    archived = operator.delete(f"/api/community/group-codes/{code['id']}", headers={"Idempotency-Key": "c3"})
    assert archived.status_code == 200 and archived.json()["archived_at"] and code["config_id"] not in fake.join_ways
    assert operator.get("/api/community/group-codes").json() == []

    made = operator.post("/api/community/group-welcome-templates", {"name": "欢迎语", "text": "欢迎入群"},
                         headers={"Idempotency-Key": "t1"}, **post)  # fmt: skip
    assert made.status_code == 201 and made.json()["template_id"] in fake.group_welcome_templates
    gone = operator.delete(f"/api/community/group-welcome-templates/{made.json()['id']}",
                           headers={"Idempotency-Key": "t2"})  # fmt: skip
    assert gone.status_code == 200 and operator.get("/api/community/group-welcome-templates").json() == []
    guide = _client(create_user("g-one", "pw-1-guide", "guide", wecom_userid="owner1"))
    assert guide.get("/api/community/group-codes").status_code == 403
