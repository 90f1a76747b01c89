"""The customer-group sync against the fake WeCom: groups and members land with their owner, store and
customers; a leave found by comparison closes the stay; a re-sync of unchanged groups writes nothing; the
group-change callback updates membership at once; the job kind is registered."""

from __future__ import annotations

import pytest
from django.urls import reverse
from groups_helpers import know_customers

from siyu.community.groups.actions import sync_groups
from siyu.community.groups.models import CustomerGroup, GroupMember, GroupStatus
from siyu.community.handover.actions import start_resigned_handover
from siyu.core.jobs import job_runner
from siyu.engagement.messaging.channels.wecom import WeComCallbackCrypto
from siyu.staff.actions import create_user, ensure_store

pytestmark = pytest.mark.django_db
T0 = 1_760_000_000


def _warehouse_rows(warehouse):
    return warehouse.raw_connection().execute(
        "SELECT chat_id, member_id, customer_id, left_at IS NOT NULL, group_type FROM group_members ORDER BY 1, 2"
    ).fetchall()


@pytest.fixture
def store_groups(fake, account, warehouse):
    store = ensure_store("S01", "静安店")
    create_user("g-one", "pw-1-guide", "guide", wecom_userid="owner1", store=store)
    know_customers(warehouse, {"wecom|wm-a": 11}, by_unionid={"u-b": 22})
    welfare = fake.make_group("owner1", "静安福利群", create_time=T0, members=[
        {"member": "wm-a", "join_time": T0 + 10, "join_scene": 3},
        {"member": "wm-b", "unionid": "u-b", "join_time": T0 + 20},
        {"member": "wm-c", "join_time": T0 + 30, "join_scene": 2},
    ])  # fmt: skip
    other = fake.make_group("owner2", "", create_time=T0, members=["wm-a"])
    return {"welfare": welfare, "other": other, "store": store}


def test_sync_lands_groups_members_and_customers_and_a_resync_writes_nothing(fake, store_groups, warehouse):
    report = sync_groups()
    assert (report["groups"], report["groups_new"], report["joins"], report["leaves"]) == (2, 2, 6, 0)
    welfare = CustomerGroup.objects.get(chat_id=store_groups["welfare"])
    assert welfare.name == "静安福利群" and welfare.member_count == 4 and welfare.status == GroupStatus.ACTIVE
    assert welfare.owner.wecom_userid == "owner1" and welfare.store == store_groups["store"]  # the owner's store
    stays = {m.member_id: m for m in welfare.members.all()}
    assert stays["owner1"].is_staff and stays["owner1"].customer_id is None
    assert stays["wm-a"].customer_id == 11 and stays["wm-a"].join_scene == 3  # by the WeCom contact record
    assert stays["wm-b"].customer_id == 22 and stays["wm-b"].unionid == "u-b"  # by unionid
    assert stays["wm-c"].customer_id is None and stays["wm-c"].inviter == "owner1"
    rows = _warehouse_rows(warehouse)
    assert len(rows) == 6 and (store_groups["welfare"], "wm-a", 11, False, "other") in rows

    again = sync_groups()
    assert (again["groups_new"], again["joins"], again["leaves"], again["warehouse_rows"]) == (0, 0, 0, 0)
    assert GroupMember.objects.count() == 6 and len(_warehouse_rows(warehouse)) == 6


def test_a_member_gone_from_wecom_has_left_and_a_dismissed_group_is_marked(fake, store_groups, warehouse):
    sync_groups()
    fake.remove_group_member(store_groups["welfare"], "wm-c")
    fake.dismiss_group(store_groups["other"])
    fake.add_group_member(store_groups["welfare"], "wm-d", join_time=T0 + 99)
    report = sync_groups()
    assert (report["joins"], report["leaves"], report["dismissed"]) == (1, 1, 1)
    welfare = CustomerGroup.objects.get(chat_id=store_groups["welfare"])
    gone = welfare.members.get(member_id="wm-c")
    assert gone.left_at is not None and welfare.member_count == 4
    assert CustomerGroup.objects.get(chat_id=store_groups["other"]).status == GroupStatus.DISMISSED
    rows = _warehouse_rows(warehouse)
    assert (store_groups["welfare"], "wm-c", None, True, "other") in rows
    left = warehouse.raw_connection().execute(
        "SELECT record_key, event_type FROM events WHERE event_type = 'group_left'").fetchall()
    assert left == [("wecom|wm-c", "group_left")]  # what acquisition quality and segments read as a leave
    assert (store_groups["welfare"], "wm-d", None, False, "other") in rows
    # a member who left and came back between two syncs: two stays
    fake.remove_group_member(store_groups["welfare"], "wm-a")
    fake.add_group_member(store_groups["welfare"], "wm-a", join_time=T0 + 5_000)
    sync_groups()
    assert welfare.members.filter(member_id="wm-a").count() == 2
    assert welfare.members.filter(member_id="wm-a", left_at=None).count() == 1


def _post_callback(client, xml):
    crypto = WeComCallbackCrypto("tok123", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "ww-test-corp")
    body, signature = crypto.seal(xml, "1700000000", "nonce1")
    url = reverse("console:engagement_wecom_callback") + f"?msg_signature={signature}&timestamp=1700000000&nonce=nonce1"
    return client.post(url, body, content_type="text/xml")


def test_the_group_change_callback_updates_membership_at_once(client, fake, store_groups, warehouse):
    sync_groups()
    welfare = store_groups["welfare"]
    answer = _post_callback(client, fake.add_group_member(welfare, "wm-new", unionid="u-b", join_scene=3))
    assert answer.status_code == 200 and answer.content == b"success"
    stay = GroupMember.objects.get(group__chat_id=welfare, member_id="wm-new", left_at=None)
    assert stay.join_scene == 3 and stay.customer_id == 22  # the refresh brought the unionid, then the link
    assert CustomerGroup.objects.get(chat_id=welfare).member_count == 5
    _post_callback(client, fake.remove_group_member(welfare, "wm-a", quit_scene=1))
    left = GroupMember.objects.get(group__chat_id=welfare, member_id="wm-a")
    assert left.left_at is not None and left.quit_scene == 1
    assert (welfare, "wm-a", 11, True, "other") in _warehouse_rows(warehouse)
    assert (welfare, "wm-new", 22, False, "other") in _warehouse_rows(warehouse)


def test_group_sync_is_a_registered_job_kind():
    from siyu.community.groups.actions import run_group_sync_job

    assert job_runner("group_sync") is run_group_sync_job


def test_a_resigned_owners_groups_are_found_for_the_handover_and_synced_with_their_new_owner(fake, account, warehouse):
    chat = fake.make_group("leaver", "离职导购的群", members=["wm-1"])
    fake.members.add("taker")
    taker = create_user("g-two", "pw-2-guide", "guide", wecom_userid="taker")
    sync_groups()
    fake.resign("leaver")
    sync_groups()
    assert CustomerGroup.objects.get(chat_id=chat).status == GroupStatus.OWNER_RESIGNED
    start_resigned_handover(None, "leaver", taker)  # the groups part tells it which groups the leaver owned
    assert fake.chat_transfers == [(chat, "leaver", "taker")]
    sync_groups()
    group = CustomerGroup.objects.get(chat_id=chat)
    assert (group.owner_userid, group.owner.user, group.status) == ("taker", taker, GroupStatus.INHERITED)


def test_a_sync_and_a_callback_keep_an_erased_member_under_their_pseudonym(client, fake, store_groups, warehouse):
    from django.utils import timezone

    from siyu.community.groups.actions import erase_person_stays
    from siyu.core.pii import keyed_hash
    from siyu.privacy.erasure import Person, suppress
    from siyu.privacy.models import DataRequest

    sync_groups()
    now = timezone.now()  # the request of the customer the groups know (no warehouse customer here)
    request = DataRequest.objects.create(kind="deletion", customer_id=11, source="member_centre", verification="短信验证码",
                                         requested_at=now, due_at=now)  # fmt: skip
    person = Person(customer_id=11, record_keys=[], identifiers={("external_userid", keyed_hash("external_userid:wm-a"))})
    suppress(person, request)
    erase_person_stays(person, request)  # what the erasure does in the groups (siyu.privacy.erasure)
    pseudonym = person.pseudonym("wm-")
    assert GroupMember.objects.filter(member_id=pseudonym, left_at=None).count() == 2

    # still in both groups at WeCom, and joining a third: the sync reads their real id again
    fake.add_group_member(store_groups["welfare"], "wm-d", join_time=T0 + 99)
    third = fake.make_group("owner1", "新群", create_time=T0, members=[{"member": "wm-a", "join_time": T0 + 50}])
    report = sync_groups()
    assert (report["joins"], report["leaves"]) == (3, 0)  # wm-d, the owner and the erased member join the third
    assert not GroupMember.objects.filter(member_id="wm-a").exists()
    stays = GroupMember.objects.filter(member_id=pseudonym)
    assert stays.count() == 3 and not stays.exclude(left_at=None).exists()  # the erased stays are not left
    assert stays.get(group__chat_id=third).customer_id == 11
    assert "wm-a" not in repr(_warehouse_rows(warehouse))
    assert CustomerGroup.objects.get(chat_id=store_groups["welfare"]).member_count == 5

    _post_callback(client, fake.remove_group_member(store_groups["welfare"], "wm-a", quit_scene=1))
    left = GroupMember.objects.get(group__chat_id=store_groups["welfare"], member_id=pseudonym)
    assert left.left_at is not None and left.quit_scene == 1  # the leave closes the pseudonym's stay
    _post_callback(client, fake.add_group_member(store_groups["welfare"], "wm-a", join_time=T0 + 9_000))
    assert not GroupMember.objects.filter(member_id="wm-a").exists()
    assert GroupMember.objects.filter(group__chat_id=store_groups["welfare"], member_id=pseudonym, left_at=None).exists()
