"""The fake WeCom's customer-group part checks requests as WeCom documents them, through the real client:
groupchat/list paging and its limit, join ways (≤ 5 groups, state ≤ 30, the QR image kept on update),
the 200-member rule for QR joins, auto-created rooms, group welcome templates and group mass messages."""

from __future__ import annotations

import pytest

from siyu.engagement.messaging.channels.wecom import WeComClient, WeComError, parse_callback_event
from siyu.engagement.messaging.fakes.wecom_groups import GroupFull


@pytest.fixture
def client(fake):
    c = WeComClient(fake.corp_id, "contact-secret", fake.url)
    yield c
    c.http.close()


def test_group_list_pages_by_cursor_and_refuses_a_limit_over_1000(fake, client):
    chats = [fake.make_group("owner1", f"群{i}") for i in range(5)]
    fake.make_group("owner2", "别人的群")
    pages = list(client.list_group_chats(page_size=2))
    assert [len(p) for p in pages] == [2, 2, 2]
    assert len(list(client.list_group_chats(owners=["owner1"]))[0]) == 5
    seen = [c["chat_id"] for p in client.list_group_chats(owners=["owner1"], page_size=2) for c in p]
    assert seen == chats
    with pytest.raises(WeComError) as refused:
        list(client.list_group_chats(page_size=1001))
    assert refused.value.errcode == 40058


def test_group_detail_has_members_with_join_scene_invitor_and_unionid(fake, client):
    chat = fake.make_group("owner1", "福利群", members=[{"member": "wm-a", "unionid": "u-a", "join_scene": 3}])
    detail = client.get_group_chat(chat, need_name=True)
    members = {m["userid"]: m for m in detail["member_list"]}
    assert detail["owner"] == "owner1" and detail["name"] == "福利群"
    assert members["owner1"]["type"] == 1 and "unionid" not in members["owner1"]
    assert members["wm-a"]["type"] == 2 and members["wm-a"]["unionid"] == "u-a"
    assert members["wm-a"]["join_scene"] == 3 and members["wm-a"]["invitor"] == {"userid": "owner1"}
    with pytest.raises(WeComError):
        client.get_group_chat("no-such-chat")


def test_join_way_refuses_six_groups_and_a_long_state_and_keeps_its_qr_on_update(fake, client):
    chats = [fake.make_group("owner1", f"群{i}") for i in range(6)]
    with pytest.raises(WeComError) as six:
        client.add_join_way(chats)
    assert six.value.errcode == 40058
    with pytest.raises(WeComError):
        client.add_join_way(chats[:2], state="x" * 31)
    with pytest.raises(WeComError):
        client.add_join_way([])
    config_id = client.add_join_way(chats[:2], state="store-1", room_base_name="福利群")
    qr = client.get_join_way(config_id)["qr_code"]
    assert qr.startswith("https://")
    client.update_join_way(config_id, chats[2:4], state="store-1")
    way = client.get_join_way(config_id)
    assert way["chat_id_list"] == chats[2:4] and way["qr_code"] == qr
    client.del_join_way(config_id)
    with pytest.raises(WeComError):
        client.get_join_way(config_id)


def test_a_qr_join_is_refused_at_200_members_while_invitations_still_join(fake):
    chat = fake.make_group("owner1", "满群", members=[f"wm-{i}" for i in range(199)])  # + the owner = 200
    with pytest.raises(GroupFull):
        fake.add_group_member(chat, "wm-late", join_scene=3)
    xml = fake.add_group_member(chat, "wm-invited", join_scene=1)
    event = parse_callback_event(xml)
    assert event["properties"]["members"] == ["wm-invited"]
    assert event["properties"]["update_detail"] == "add_member" and event["properties"]["join_scene"] == "0"
    for i in range(299):
        fake.add_group_member(chat, f"wm-more-{i}")
    with pytest.raises(GroupFull):
        fake.add_group_member(chat, "wm-501st")


def test_scanning_a_join_way_fills_the_group_with_room_then_creates_a_room(fake, client):
    full = fake.make_group("owner1", "一群", members=[f"wm-{i}" for i in range(199)])
    config_id = client.add_join_way([full], state="bag-card", room_base_name="福利群", room_base_id=7)
    xmls = fake.scan_join_way(config_id, "wm-new", unionid="u-new")
    created, joined = (parse_callback_event(x) for x in xmls)
    assert created["event_type"] == "wecom_group_create"
    new_chat = created["properties"]["chat_id"]
    assert fake.groups[new_chat]["name"] == "福利群7" and fake.groups[new_chat]["owner"] == "owner1"
    assert joined["properties"]["members"] == ["wm-new"] and joined["properties"]["join_scene"] == "3"
    assert client.get_join_way(config_id)["chat_id_list"] == [full, new_chat]
    member = next(m for m in client.get_group_chat(new_chat)["member_list"] if m["userid"] == "wm-new")
    assert member["state"] == "bag-card"


def test_group_welcome_template_takes_text_and_one_attachment(fake, client):
    template_id = client.add_group_welcome_template(
        "欢迎入群", {"msgtype": "link", "link": {"title": "领券", "url": "https://example.cn/c"}})
    assert client.get_group_welcome_template(template_id) == {
        "text": {"content": "欢迎入群"}, "link": {"title": "领券", "url": "https://example.cn/c"}}
    client.edit_group_welcome_template(template_id, "新的欢迎语")
    assert client.get_group_welcome_template(template_id) == {"text": {"content": "新的欢迎语"}}
    with pytest.raises(WeComError):
        client.add_group_welcome_template("")
    with pytest.raises(WeComError):
        client.add_group_welcome_template("长" * 1400)  # 4,200 bytes
    client.del_group_welcome_template(template_id)
    with pytest.raises(WeComError):
        client.get_group_welcome_template(template_id)


def test_a_group_mass_message_reaches_only_the_senders_chosen_groups(fake, client):
    mine = [fake.make_group("owner1", f"群{i}") for i in range(3)]
    fake.make_group("owner2", "别人的群")
    msgid = client.add_group_msg_template("owner1", "周末福利", chat_ids=mine[:2])
    results = client.get_groupmsg_send_result(msgid, "owner1")
    assert sorted(r["chat_id"] for r in results) == mine[:2]
    everything = client.add_group_msg_template("owner1", "全部群")
    assert len(client.get_groupmsg_send_result(everything, "owner1")) == 3
    with pytest.raises(WeComError):
        client.call("/cgi-bin/externalcontact/add_msg_template", {"chat_type": "group", "text": {"content": "x"}})
    # the single-customer mass message still works as before
    fake.add_contact("owner1", "wm-x")
    msgid, fail = client.add_msg_template("owner1", ["wm-x", "wm-stranger"], "hi")
    assert fail == ["wm-stranger"]
