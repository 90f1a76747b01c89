"""The console's group pages: a guide's list holds only their own groups and another's group is refused;
the health page is for admins, operators and managers."""

from __future__ import annotations

import pytest

from siyu.community.groups.actions import mirror_groups
from siyu.community.groups.models import CustomerGroup, GroupMember
from siyu.staff.actions import create_user

pytestmark = pytest.mark.django_db


def test_a_guide_sees_their_groups_only(client, warehouse):
    mine = CustomerGroup.objects.create(chat_id="c1", name="我的福利群", owner_userid="guide01", member_count=2)
    theirs = CustomerGroup.objects.create(chat_id="c2", name="别人的群", owner_userid="guide02", member_count=1)
    GroupMember.objects.create(group=mine, member_id="wm001", customer_id=7, join_scene=3)
    mirror_groups([mine.pk, theirs.pk])
    client.force_login(create_user("g-one", "pw-1-guide", "guide", wecom_userid="guide01"))
    listed = client.get("/community/groups/").content.decode()
    assert "我的福利群" in listed and "别人的群" not in listed
    detail = client.get(f"/community/groups/{mine.pk}/").content.decode()
    assert "wm001" in detail and "扫描群二维码入群" in detail
    assert client.get(f"/community/groups/{theirs.pk}/").status_code == 403
    assert client.get("/community/groups/999999/").status_code == 404
    assert client.get("/community/groups/health/").status_code == 403
    client.force_login(create_user("op", "pw-operator-1", "operator"))
    assert "退群率" in client.get("/community/groups/health/").content.decode()
