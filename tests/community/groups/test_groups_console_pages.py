"""The console's group code, group welcome message and group mass message pages, against the fake WeCom:
an operator makes a code over chosen groups and archives it, registers and deletes a welcome message, sends
a message; a guide is offered and may send to only their own groups, and has no code pages."""

from __future__ import annotations

import pytest

from siyu.community.groups.actions import sync_groups
from siyu.community.groups.models import CustomerGroup, GroupCode, GroupWelcomeTemplate
from siyu.staff.actions import create_user

pytestmark = pytest.mark.django_db


def _groups(fake, names, owner="owner1") -> dict[str, CustomerGroup]:
    chats = {name: fake.make_group(owner, name, members=[f"wm-{name}-{j}" for j in range(3)]) for name in names}
    sync_groups()
    return {name: CustomerGroup.objects.get(chat_id=chat) for name, chat in chats.items()}


def test_an_operator_makes_a_group_code_over_chosen_groups_and_archives_it(client, fake, account, warehouse):
    groups = _groups(fake, ["一群", "二群", "三群", "四群", "五群", "六群"])
    client.force_login(create_user("op", "pw-operator-1", "operator"))
    assert "群活码" in client.get("/community/groups/").content.decode()
    page = client.get("/community/groups/codes/").content.decode()
    assert "一群" in page and "六群" in page
    too_many = client.post("/community/groups/codes/", {"name": "门店福利码", "groups": [g.pk for g in groups.values()]})
    assert too_many.status_code == 400 and not GroupCode.objects.exists()
    made = client.post("/community/groups/codes/", {"name": "门店福利码", "state": "store-S01", "auto_create_room": "on",
                                                     "room_base_name": "福利群", "rotate_at": "190",
                                                     "groups": [groups["一群"].pk, groups["二群"].pk]})  # fmt: skip
    code = GroupCode.objects.get()
    assert made.status_code == 302 and made["Location"] == f"/community/groups/codes/{code.pk}/"
    way = fake.join_ways[code.config_id]
    assert way["chat_id_list"] == [groups["一群"].chat_id, groups["二群"].chat_id] and way["state"] == "store-S01"
    detail = client.get(f"/community/groups/codes/{code.pk}/").content.decode()
    assert code.qr_url in detail and "二群" in detail
    client.post(f"/community/groups/codes/{code.pk}/", {"do": "archive"})
    assert code.config_id not in fake.join_ways
    assert "门店福利码" not in client.get("/community/groups/codes/").content.decode()


def test_an_operator_registers_and_deletes_a_group_welcome_message(client, fake, account, warehouse):
    client.force_login(create_user("op", "pw-operator-1", "operator"))
    assert client.post("/community/groups/welcome/", {"name": "空的", "text": ""}).status_code == 400
    client.post("/community/groups/welcome/", {"name": "周三福利欢迎", "text": "欢迎加入门店福利群，每周三有券"})
    template = GroupWelcomeTemplate.objects.get()
    assert fake.group_welcome_templates[template.template_id]["text"]["content"] == "欢迎加入门店福利群，每周三有券"
    assert "周三福利欢迎" in client.get("/community/groups/welcome/").content.decode()
    client.post(f"/community/groups/welcome/{template.pk}/delete/")
    assert template.template_id not in fake.group_welcome_templates
    assert "周三福利欢迎" not in client.get("/community/groups/welcome/").content.decode()


def test_a_guide_sends_group_messages_to_their_own_groups_only(client, fake, account, warehouse):
    mine = _groups(fake, ["我的群"])
    theirs = _groups(fake, ["别人的群"], owner="owner2")
    client.force_login(create_user("g-one", "pw-1-guide", "guide", wecom_userid="owner1"))
    assert client.get("/community/groups/codes/").status_code == 403
    assert client.get("/community/groups/welcome/").status_code == 403
    page = client.get("/community/groups/messages/").content.decode()
    assert "我的群" in page and "别人的群" not in page
    assert client.post("/community/groups/messages/", {"text": "别人的", "groups": [theirs["别人的群"].pk]}).status_code == 403
    sent = client.post("/community/groups/messages/", {"text": "今晚八点直播", "groups": [mine["我的群"].pk]})
    assert sent.status_code == 302
    tasks = [m for m in fake.mass.values() if m["chat_type"] == "group"]
    assert [(m["sender"], m["text"], [r["chat_id"] for r in m["results"]]) for m in tasks] == [
        ("owner1", "今晚八点直播", [mine["我的群"].chat_id])]
    assert "今晚八点直播" in client.get("/community/groups/messages/").content.decode()
