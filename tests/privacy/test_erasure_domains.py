"""Erasure (PIPL art. 47) in the domains above privacy: the person of the copy test (two sources merged,
points, a survey answer, a send, a guide task, chat messages) is erased, every registered eraser leaves
nothing of them that its scan finds, the other person's data stays, and the aggregates (message counts,
points balances, survey counts) do not change."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from siyu.core.models import Job
from siyu.privacy import actions
from siyu.warehouse.connection import raw_connection

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_copy_and_correction import OTHER_WECOM_ID, PHONE, WECOM_ID, person  # noqa: E402, F401  (the fixture)

pytestmark = pytest.mark.django_db


def _erase(subject) -> Job:
    request = actions.open_request(customer_id=subject["cid"], kind="deletion", source="staff",
                                   verification="到店核对身份证", requested_by=subject["ops"])  # fmt: skip
    job = actions.request_erasure(subject["ops"], request.pk)
    assert job.status == Job.Status.DONE, job.error
    return job


def _messages() -> list[tuple]:
    return raw_connection().execute(
        "SELECT msgid, sender, recipients, text FROM chat_messages ORDER BY msgid").fetchall()  # fmt: skip


def test_the_chat_archive_keeps_the_messages_but_not_who_wrote_them_or_what(person):  # noqa: F811
    before = _messages()
    job = _erase(person)
    assert job.result["clean"], job.result["found"]
    assert job.result["erased"]["chat_archive"]["messages"] == 2
    after = {m[0]: m for m in _messages()}
    assert len(after) == len(before)  # counts and response times keep their messages
    everything = repr(after)
    assert WECOM_ID not in everything and "精华水" not in everything and "张姐" not in everything
    assert after["m1"][1] == after["m2"][2][0] and after["m1"][1].startswith("wm")  # one pseudonym, a customer's
    assert after["m3"][1] == OTHER_WECOM_ID and after["m3"][3] == "李娜的消息"  # the other person's stays


def _add_more_of_them(subject):
    """What the copy fixture does not hold: a written survey answer, a parcel, a voided coupon, a queued send,
    group stays (theirs and one they invited), a handover and a WeCom transfer of them."""
    from django.utils import timezone

    from siyu.community.groups.models import CustomerGroup, GroupMember
    from siyu.community.handover.models import Handover, HandoverItem
    from siyu.core import pii
    from siyu.engagement.messaging.models import Send, WeComTransfer
    from siyu.loyalty.coupons.models import Coupon, CouponTemplate
    from siyu.loyalty.mall.models import MallItem, MallRedemption
    from siyu.surveys import actions as survey_actions

    now, cid, other = timezone.now(), subject["cid"], subject["other"]
    survey = survey_actions.make_survey(subject["ops"], title="使用感受", questions=[
        {"text": "还有什么想说的？", "kind": "text"}])  # fmt: skip
    survey_actions.open_survey(subject["ops"], survey.pk)
    question = survey.questions.get()
    survey_actions.record_response(survey.pk, cid, {str(question.pk): "我住在静安区愚园路100号"}, key="resp-t1")
    survey_actions.record_response(survey.pk, other, {str(question.pk): "李娜的回答"}, key="resp-t2")
    item = MallItem.objects.create(name="玫瑰香皂", kind="gift", points_price=50, stock=5)
    MallRedemption.objects.create(item=item, customer_id=cid, key="r-1", points=50, status="shipped",
                                  address_cipher=pii.encrypt_json({"address": "上海市静安区愚园路100号"}),
                                  tracking_no="SF123456789", carrier="顺丰")  # fmt: skip
    template = CouponTemplate.objects.create(name="满100减10", kind="amount", amount_off=10)
    Coupon.objects.create(code="C0DE0001", template=template, customer_id=cid, issued_at=now, idempotency_key="c-1",
                          status="voided", voided_at=now, void_reason="张伟来电说不要了")  # fmt: skip
    Send.objects.create(idempotency_key="send-q", channel="sms", customer_id=cid, content="张伟，您的积分快过期",
                        status="queued", scheduled_at=now)  # fmt: skip
    group = CustomerGroup.objects.create(chat_id="wrChat1", name="会员福利群", owner_userid="guide1")
    GroupMember.objects.create(group=group, member_id=WECOM_ID, unionid="oUnionZhangWei", customer_id=cid,
                               joined_at=now)  # fmt: skip
    GroupMember.objects.create(group=group, member_id=OTHER_WECOM_ID, inviter=WECOM_ID, customer_id=other,
                               joined_at=now)  # fmt: skip
    handover = Handover.objects.create(handover_userid="guide1", requested_at=now,
                                       takeover=subject["guide"].staff)  # fmt: skip
    HandoverItem.objects.create(handover=handover, kind="customer", external_userid=WECOM_ID, status=1)
    WeComTransfer.objects.create(external_userid=WECOM_ID, handover_userid="guide1", takeover_userid="guide2",
                                 transferred_at=now)  # fmt: skip
    from siyu.customers.actions import correct_profile

    correct_profile(subject["ops"], cid, {"address": "杭州市西湖区文三路1号"}, reason="客户来电")
    actions.open_request(customer_id=cid, kind="access", source="staff", verification=f"短信验证码发到 {PHONE}",
                         detail="她说邮箱 zhangwei@example.com 不再使用", requested_by=subject["ops"])  # fmt: skip


def test_every_domain_erases_its_words_of_the_person_and_keeps_the_counts(person):  # noqa: F811
    from siyu.community.groups.models import GroupMember
    from siyu.community.handover.models import HandoverItem
    from siyu.engagement.guides.models import GuideTask
    from siyu.engagement.messaging.models import Send, WeComTransfer
    from siyu.loyalty.coupons.models import Coupon
    from siyu.loyalty.mall.models import MallRedemption
    from siyu.loyalty.points.models import PointsEntry
    from siyu.surveys.models import SurveyResponse

    _add_more_of_them(person)
    cid = person["cid"]
    balance = sum(PointsEntry.objects.filter(customer_id=cid).values_list("points", flat=True))
    responses = SurveyResponse.objects.count()
    job = _erase(person)
    assert job.result["clean"], job.result["found"]
    erased = job.result["erased"]
    assert erased["loyalty_mall"] == {"redemptions": 1} and erased["loyalty_coupons"] == {"void_reasons": 1}
    assert erased["surveys"]["text_answers"] == 1 and erased["group_members"]["stays"] == 1

    redemption = MallRedemption.objects.get(customer_id=cid)
    assert redemption.address_cipher is None and redemption.tracking_no == "" and redemption.points == 50
    assert Coupon.objects.get(customer_id=cid).void_reason == ""
    assert sum(PointsEntry.objects.filter(customer_id=cid).values_list("points", flat=True)) == balance
    assert not PointsEntry.objects.filter(customer_id=cid).exclude(reason="").filter(source="manual").exists()
    assert SurveyResponse.objects.count() == responses  # the survey's counts stay
    answers = repr(list(SurveyResponse.objects.values_list("answers", flat=True)))
    assert "愚园路" not in answers and "李娜的回答" in answers and "油性" not in answers
    sends = Send.objects.filter(customer_id=cid)
    assert sends.count() == 2 and not sends.exclude(content="").exists()
    assert sends.get(idempotency_key="send-q").status == "suppressed"
    assert Send.objects.get(idempotency_key="send-2").content == "李娜您好"
    assert GuideTask.objects.get(customer_id=cid).message == ""
    stays = {m.customer_id: m for m in GroupMember.objects.all()}
    assert stays[cid].member_id.startswith("wm-erased-") and stays[cid].unionid == ""
    assert stays[person["other"]].member_id == OTHER_WECOM_ID and stays[person["other"]].inviter == stays[cid].member_id
    members = raw_connection().execute("SELECT member_id FROM group_members ORDER BY 1").fetchall()
    assert WECOM_ID not in repr(members) and len(members) == 2  # the warehouse's copy too; counts stay
    messages = {m[0]: m for m in _messages()}
    assert messages["m1"][1] == stays[cid].member_id  # one pseudonym in the archive and the groups
    assert not HandoverItem.objects.filter(external_userid=WECOM_ID).exists() and HandoverItem.objects.count() == 1
    assert not WeComTransfer.objects.filter(external_userid=WECOM_ID).exists()
    from siyu.customers.models import ProfileCorrection
    from siyu.privacy.models import DataRequest

    assert not ProfileCorrection.objects.filter(customer_id=cid).exists()
    texts = repr(list(DataRequest.objects.filter(customer_id=cid).values_list("verification", "detail")))
    assert PHONE not in texts and "zhangwei" not in texts and "到店核对身份证" in texts  # a method without PII stays

    again = _erase(person)  # a second erasure finds nothing left to change
    assert again.result["clean"]
    assert all(not any(counts.values()) for name, counts in again.result["erased"].items()
               if name not in ("suppression", "customer"))  # fmt: skip
