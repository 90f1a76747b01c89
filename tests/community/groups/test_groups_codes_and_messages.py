"""Group codes (join ways) made, changed, rotated off full groups and archived in WeCom; group welcome
templates; group mass messages reaching only the chosen groups of each owner."""

from __future__ import annotations

import pytest

from siyu.community.errors import CommunityError
from siyu.community.groups.actions import (
    archive_group_code,
    create_group_code,
    delete_group_welcome_template,
    rotate_group_codes,
    save_group_welcome_template,
    send_group_message,
    sync_groups,
    update_group_code,
)
from siyu.community.groups.models import CustomerGroup, GroupCodeSlot
from siyu.core.errors import PermissionDenied
from siyu.staff.actions import create_user

pytestmark = pytest.mark.django_db


def _groups(fake, sizes: dict[str, int], owner="owner1") -> dict[str, CustomerGroup]:
    chats = {name: fake.make_group(owner, name, create_time=1_760_000_000 + i,
                                   members=[f"wm-{name}-{j}" for j in range(size - 1)])
             for i, (name, size) in enumerate(sizes.items())}  # fmt: skip
    sync_groups()
    return {name: CustomerGroup.objects.get(chat_id=chat) for name, chat in chats.items()}


def test_a_group_code_is_a_join_way_whose_qr_stays_when_its_groups_change(fake, account, warehouse):
    groups = _groups(fake, {"一群": 10, "二群": 10, "三群": 5, "四群": 2, "五群": 2, "六群": 2})
    code = create_group_code(None, "门店福利码", [groups["一群"].pk, groups["二群"].pk], state="store-S01",
                             room_base_name="福利群")  # fmt: skip
    way = fake.join_ways[code.config_id]
    assert way["chat_id_list"] == [groups["一群"].chat_id, groups["二群"].chat_id] and way["state"] == "store-S01"
    assert code.qr_url == way["qr_code"] and code.qr_url
    update_group_code(None, code, group_ids=[groups["三群"].pk])
    assert fake.join_ways[code.config_id]["chat_id_list"] == [groups["三群"].chat_id]
    assert fake.join_ways[code.config_id]["qr_code"] == code.qr_url
    assert [g.name for g in code.current_groups()] == ["三群"]
    with pytest.raises(CommunityError):
        create_group_code(None, "太多", [g.pk for g in groups.values()])  # six groups
    with pytest.raises(CommunityError):
        create_group_code(None, "长state", [groups["一群"].pk], state="s" * 31)
    # a customer who scans the code joins with its state, kept for acquisition's attribution
    fake.scan_join_way(code.config_id, "wm-scanned")
    sync_groups()
    rows = warehouse.raw_connection().execute(
        "SELECT chat_id, join_state, join_scene FROM group_members WHERE member_id = 'wm-scanned'").fetchall()
    assert rows == [(groups["三群"].chat_id, "store-S01", 3)]
    archive_group_code(None, code)
    assert code.config_id not in fake.join_ways and code.archived_at is not None


def test_rotation_moves_a_code_off_a_group_at_195_onto_groups_with_room(fake, account, warehouse):
    groups = _groups(fake, {"满群": 195, "有空": 120, "也有空": 10, "别人的": 3})
    other_owner = fake.make_group("owner2", "别人的群")
    sync_groups()
    code = create_group_code(None, "轮换码", [groups["满群"].pk])
    report = rotate_group_codes()
    assert report == {"rotated": 1, "no_room": 0}
    chats = fake.join_ways[code.config_id]["chat_id_list"]
    # the owner's groups with room, oldest first; never another owner's group
    assert chats == [groups["有空"].chat_id, groups["也有空"].chat_id, groups["别人的"].chat_id]
    assert other_owner not in chats
    old = GroupCodeSlot.objects.get(code=code, group=groups["满群"])
    assert old.removed_at is not None and old.removed_because == "full"  # kept as history
    assert rotate_group_codes() == {"rotated": 0, "no_room": 0}  # nothing full any more


def test_a_sync_rotates_a_code_whose_group_filled_up(fake, account, warehouse):
    groups = _groups(fake, {"快满": 194, "备用": 2})
    code = create_group_code(None, "码", [groups["快满"].pk], rotate_at=195)
    fake.add_group_member(groups["快满"].chat_id, "wm-195th", join_scene=3)
    report = sync_groups()
    assert report["rotation"]["rotated"] == 1
    assert fake.join_ways[code.config_id]["chat_id_list"] == [groups["备用"].chat_id]


def test_group_welcome_template_is_registered_in_wecom(fake, account):
    template = save_group_welcome_template(None, "入群欢迎", "欢迎加入门店福利群，每周三有券")
    assert fake.group_welcome_templates[template.template_id] == {"text": {"content": "欢迎加入门店福利群，每周三有券"}}
    save_group_welcome_template(None, "入群欢迎", "新版欢迎语", template=template)
    assert fake.group_welcome_templates[template.template_id]["text"]["content"] == "新版欢迎语"
    with pytest.raises(CommunityError):
        save_group_welcome_template(None, "空的", "")
    delete_group_welcome_template(None, template)
    assert template.template_id not in fake.group_welcome_templates and template.deleted_at is not None


def test_a_group_message_goes_to_the_chosen_groups_of_each_owner_only(fake, account, warehouse):
    mine = _groups(fake, {"A1": 3, "A2": 3, "A3": 3})
    theirs = _groups(fake, {"B1": 3}, owner="owner2")
    message = send_group_message(None, [mine["A1"].pk, mine["A2"].pk, theirs["B1"].pk], "周末福利：到店领券")
    assert set(message.msgids) == {"owner1", "owner2"} and not message.failures
    reached = {owner: sorted(r["chat_id"] for r in fake.mass[msgid]["results"])
               for owner, msgid in message.msgids.items()}  # fmt: skip
    assert reached == {"owner1": sorted([mine["A1"].chat_id, mine["A2"].chat_id]), "owner2": [theirs["B1"].chat_id]}
    assert mine["A3"].chat_id not in reached["owner1"]
    assert fake.mass[message.msgids["owner1"]]["text"] == "周末福利：到店领券"
    # a guide sends only to their own groups
    guide = create_user("g-one", "pw-1-guide", "guide", wecom_userid="owner1")
    send_group_message(guide, [mine["A3"].pk], "我的群")
    with pytest.raises(PermissionDenied):
        send_group_message(guide, [theirs["B1"].pk], "别人的群")


def test_a_room_wecom_opened_for_a_full_code_stays_in_it_when_the_code_rotates(fake, account, warehouse):
    groups = _groups(fake, {"满了": 200})
    code = create_group_code(None, "自动建群码", [groups["满了"].pk], room_base_name="福利群", room_base_id=2)
    fake.scan_join_way(code.config_id, "wm-new")  # the only group is at 200: WeCom opens 福利群2
    sync_groups()
    room = CustomerGroup.objects.get(name="福利群2")
    assert fake.join_ways[code.config_id]["chat_id_list"] == [room.chat_id]
    assert [g.name for g in code.current_groups()] == ["福利群2"]
