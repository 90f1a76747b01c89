"""A brand with something on every console page, built the way an operator's data arrives: the demo
brand's files imported and resolved (review queue, quarantine, jobs), then traits, predictions, segments,
tags, notes and consent, the content library, channel accounts and the policy, a journey that ran (its
sends in the outbox), a batch of guide tasks, channel spend and an uploaded customer list.

Everything an operator typed is in Chinese (as in a Chinese console); ids, numbers and the platforms'
own data are as they come."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from siyu.acquisition.actions import archive_live_code, create_live_code, record_code_add
from siyu.acquisition.models import LiveCodeAdd
from siyu.analytics.actions import record_spend, save_customer_list
from siyu.analytics.groups import group_from_file
from siyu.community.archive.actions import handle_alert, import_chat_archive, save_rule
from siyu.community.archive.models import SensitiveAlert
from siyu.community.archive.sample import SAMPLE_RULES, write_archive_sample
from siyu.community.groups.actions import flag_duplicate_groups, mirror_groups
from siyu.community.groups.models import (
    CustomerGroup,
    GroupCode,
    GroupCodeSlot,
    GroupMember,
    GroupMessage,
    GroupWelcomeTemplate,
)
from siyu.community.handover.models import Handover, HandoverItem
from siyu.core.models import Job
from siyu.core.progress import run_with_progress
from siyu.customers import actions
from siyu.demo.generate import DEMO_AS_OF
from siyu.engagement.content.actions import save_material, save_script
from siyu.engagement.guides.actions import complete_task, create_guide_tasks
from siyu.engagement.guides.models import GuideTask
from siyu.engagement.journeys.actions import activate_journey, enroll_groups, run_journeys, save_journey
from siyu.engagement.messaging import queries
from siyu.engagement.messaging.actions import configure_account, update_policy
from siyu.engagement.messaging.channels.wecom import WeComClient, parse_callback_event
from siyu.engagement.messaging.fakes.wecom import FakeWeCom
from siyu.engagement.messaging.models import WeComTransfer
from siyu.segments.actions import save_computed_tag, save_segment, save_stage_set
from siyu.staff.models import StaffProfile
from siyu.warehouse import backend

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PEOPLE = 300
LIST_NAME = "回访名单.csv"


@dataclass
class WordsBrand:
    admin: object
    customer_id: int
    job_ids: list[str]
    segment_id: int
    journey_id: int
    list_id: str
    list_name: str
    group_id: int = 0  # a customer group with members, leaves and a duplicate (siyu.community.groups)
    handover_id: int = 0
    live_code_id: int = 0
    group_code_id: int = 0  # a group code over both groups, one rotated off (siyu.community.groups)
    group_journey_id: int = 0  # a group SOP that has run once
    coupon_template_id: int = 0  # a coupon template with coupons used, voided and unused (siyu.loyalty.coupons)
    coupon_code: str = ""
    privacy_request_id: int = 0  # a copy request from the member centre, taken on, with a note (siyu.privacy)
    survey_id: int = 0  # a survey with branching, mappings and two responses (siyu.surveys)
    subscription_id: int = 0  # an event subscription with a delivered and a dead delivery (siyu.integrations)


def build_brand(settings, tmp_path) -> WordsBrand:
    settings.UPLOADS_DIR = tmp_path / "uploads"
    call_command("demo", people=PEOPLE, seed=7, no_serve=True, stdout=io.StringIO())
    admin = get_user_model().objects.get(username="admin")
    _traits_and_predictions(admin)
    customer_id = _a_customer_with_everything(admin)
    _points(admin, customer_id)
    segment = _segments(admin, customer_id)
    script = _content(admin, customer_id)
    _channels_and_policy(admin)
    journey = _journey(admin, segment)
    _guide_tasks(admin, segment, script)
    list_id = _analytics(admin, customer_id)
    group_id = _customer_groups(customer_id)
    handover_id = _community(admin, tmp_path)
    live_code_id = _live_codes(admin, customer_id)
    group_code_id, group_journey_id = _group_operations(admin)
    coupon_template_id, coupon_code = _coupons(admin, customer_id)
    _loyalty_tiers_and_earning(admin)
    survey_id = _survey(admin, customer_id)
    jobs = {job.kind: str(job.pk) for job in Job.objects.order_by("created_at")}  # the latest of each kind
    return WordsBrand(
        admin=admin,
        customer_id=customer_id,
        job_ids=list(jobs.values()),
        segment_id=segment.pk,
        journey_id=journey.pk,
        list_id=list_id,
        list_name=LIST_NAME,
        group_id=group_id,
        handover_id=handover_id,
        live_code_id=live_code_id,
        group_code_id=group_code_id,
        group_journey_id=group_journey_id,
        coupon_template_id=coupon_template_id,
        coupon_code=coupon_code,
        privacy_request_id=_privacy_request(admin, customer_id),
        survey_id=survey_id,
        subscription_id=_event_subscription(admin),
    )


def _event_subscription(admin) -> int:
    """Rows as the delivery task leaves them (no receiver runs here): one delivered, one given up."""
    import uuid

    from django.utils import timezone

    from siyu.integrations.models import Delivery, DeliveryAttempt, Subscription

    sub = Subscription.objects.create(url="https://crm.example.com/hooks/siyu", event_types=["segment.entered", "consent.changed"],
                                      description="会员系统", secret="whsec_" + "x" * 43, created_by=admin)  # fmt: skip
    now = timezone.now()
    for status, code in (("delivered", 200), ("dead", 500)):
        event_id = uuid.uuid4()
        delivery = Delivery.objects.create(subscription=sub, event_uuid=event_id, event_type="segment.entered",
                                           body={"id": str(event_id), "customer_id": 7, "data": {"segment_id": 1}},
                                           status=status, created_at=now)  # fmt: skip
        DeliveryAttempt.objects.create(delivery=delivery, attempted_at=now, status_code=code, ok=code == 200,
                                       response_excerpt="internal_error" if code == 500 else "ok", duration_ms=12)  # fmt: skip
    return sub.pk


def _privacy_request(admin, customer_id: int) -> int:
    from siyu.privacy.actions import advance_request, open_request

    request = open_request(customer_id=customer_id, kind="access", source="member_centre",
                           verification="短信验证码（会员中心登录）", detail="想要一份我的购买记录")  # fmt: skip
    advance_request(admin, request.pk, "in_progress", "已开始整理")
    return request.pk


def _points(admin, customer_id: int) -> None:
    """A ledger with every kind of entry: earned (one pending, one expiring), spent, refunded, adjusted."""
    import datetime as dt

    from django.utils import timezone

    from siyu.loyalty.points import actions as points

    now = timezone.now()
    points.award_points(customer_id, 300, key="w:o1", reason="订单完成", source="order", source_ref="o1",
                        expires_at=now + dt.timedelta(days=20))  # fmt: skip
    points.award_points(customer_id, 80, key="w:o2", reason="订单完成", source="order", source_ref="o2",
                        available_at=now + dt.timedelta(days=7))  # fmt: skip
    points.spend_points(customer_id, 120, key="w:s1", reason="门店抵现", source="till")
    points.reverse_points(source_ref="o1", key="w:r1", reason="订单退款")
    points.adjust_points(admin, customer_id, 50, reason="客诉补偿", key="w:a1")


def _traits_and_predictions(admin) -> None:
    save_computed_tag(admin, "高价值", {"field": "m_score", "op": ">=", "value": 4}, description="消费金额高")
    save_stage_set(admin, "会员阶段", [{"stage": "老客", "when": {"bought": {}}}], default_stage="新客")
    # as `siyu traits` and `siyu predict --as-of` run them: background jobs; the predictions as of the demo's
    # own "today", so that the pages do not change as the real date moves away from the demo's data
    for kind, params in (("traits", {}), ("predict", {"as_of": DEMO_AS_OF.isoformat()})):
        job = run_with_progress(kind, params, quiet=True, created_by=admin)
        assert job.status == "done", job.error


def _a_customer_with_everything(admin) -> int:
    """The customer with the most records (several channels, orders, a WeCom contact when there is one),
    with tags, a note, consent and an owner guide."""
    summary = backend().table("customer_summary")
    top = summary.order_by([summary.record_count.desc(), summary.orders.desc(), summary.customer_id])
    customer_id = int(top.limit(1).customer_id.to_pyarrow().to_pylist()[0])
    actions.add_tag(admin, [customer_id], "高潜力")
    actions.add_tag(admin, [customer_id], "敏感肌", group_name="肤质")
    actions.add_note(admin, customer_id, "喜欢玫瑰系列，周末到店")
    actions.record_consent(admin, customer_id, "sms", "opt_in", "门店登记表")
    actions.record_consent(admin, customer_id, "wecom", "opt_out", "客户回复退订")
    actions.record_consent(admin, customer_id, "ugc", "opt_in", "评价页勾选授权")
    guide = get_user_model().objects.filter(staff__role="guide").order_by("username").first()
    actions.assign_owner(admin, [customer_id], guide)
    return customer_id


def _segments(admin, customer_id: int):
    save_segment(admin, "指定客户", customer_ids=[customer_id], description="手工名单")
    return save_segment(
        admin, "买过的客户", rule={"field": "orders_total", "op": ">=", "value": 1}, description="至少一单"
    )


def _content(admin, customer_id: int):
    script = save_script(admin, title="回访", body="{name}您好，我是{guide}", group="售后", tags="回访，关怀")
    save_material(admin, kind="image", title="新品海报", image=PNG, tags="海报")
    save_material(admin, kind="link", title="活动页", url="https://example.com/event")
    save_material(admin, kind="mini_program", title="商城首页", appid="wx0123456789abcdef",
                  page_path="pages/index/index", image=PNG)  # fmt: skip
    save_material(admin, kind="case", title="敏感肌改善案例", body="连续使用四周后……", tags="案例")
    save_material(admin, kind="ugc", title="买家秀", body="很好用", customer_id=customer_id, image=PNG)
    return script


def _channels_and_policy(admin) -> None:
    configure_account(admin, "wecom", "wecom", {"corp_id": "ww0123456789", "agent_id": "1000002",
                      "welcome_text": "欢迎！", "sync_every_hours": "6"}, {"contact_secret": "s3cret"})  # fmt: skip
    configure_account(admin, "sms", "aliyun", {"access_key_id": "LTAI0123", "sign_name": "私域"},
                      {"access_key_secret": "s3cret", "receipt_token": "t0ken"})  # fmt: skip
    configure_account(admin, "webhook", "webhook", {"url": "https://example.com/hook"}, {})
    update_policy(admin, holdout_percent=5, channel_caps={"sms": [2, 30]})


def _live_codes(admin, customer_id: int) -> int:
    """A store's live code with its guides (one of them a backup), made against the fake WeCom, and an add
    through it (the profile's customer's, so the profile says how they came); an archived code."""
    account = queries.account_of("wecom")
    settings, secrets = dict(account.settings), {"contact_secret": "s3cret"}
    guides = [p for p in StaffProfile.objects.exclude(wecom_userid="").exclude(store=None).order_by("pk")]
    store_guides = [p for p in guides if p.store_id == guides[0].store_id][:3]
    WeComClient._tokens.clear()
    with FakeWeCom(corp_id=settings["corp_id"], contact_secret="s3cret") as wecom:
        wecom.members.update(p.wecom_userid for p in guides)
        account = configure_account(admin, "wecom", "wecom", {**settings, "base_url": wecom.url}, secrets)
        code = create_live_code(admin, name="收银台二维码", channel="receipt", campaign="双十二",
                                store=store_guides[0].store, welcome_text="欢迎光临，送您一张券", daily_limit=30,
                                cost="800", staff=[*store_guides[:-1], {"staff": store_guides[-1], "backup": True}],
                                verify_skip_from="09:00", verify_skip_until="22:00")  # fmt: skip
        add = record_code_add(code, parse_callback_event(wecom.scan(code.config_id, "wm-words-1", "小雨")), account)
        # as a resolve would link it when the contact's record joins this customer
        LiveCodeAdd.objects.filter(pk=add.pk).update(customer_id=customer_id)
        gone = create_live_code(admin, name="旧海报", channel="poster", staff=store_guides[:1])
        archive_live_code(admin, gone.pk)
    configure_account(admin, "wecom", "wecom", settings, secrets)  # as it was: no fake behind it
    WeComClient._tokens.clear()
    return code.pk


def _journey(admin, segment):
    steps = [
        {"id": "s1", "type": "send", "channel": "sms", "content": "{name}您好，新品上市"},
        {"id": "s2", "type": "wait", "days": 1},
        {"id": "s3", "type": "branch", "rule": {"tag": "高潜力"}, "then": "s4", "else": "s5"},
        {"id": "s4", "type": "guide_task", "title": "电话回访", "script": "您好"},
        {"id": "s5", "type": "add_tag", "tag": "活动:新品"},
        {"id": "s6", "type": "wait_event", "event": "order_placed", "timeout_hours": 48},
        {"id": "s7", "type": "exit"},
    ]
    journey = save_journey(admin, name="新品上市", trigger={"type": "segment_now", "segment_id": segment.pk},
                           steps=steps, holdout_percent=20, cost_per_send=0.05)  # fmt: skip
    save_journey(admin, name="下单感谢", trigger={"type": "event", "event": "order_placed"},
                 steps=[{"id": "t1", "type": "send", "channel": "webhook", "content": "感谢"}])  # fmt: skip
    activate_journey(admin, journey.pk)
    run_journeys()
    return journey


def _guide_tasks(admin, segment, script) -> None:
    create_guide_tasks(admin, script=script, due_at=timezone.now() + dt.timedelta(days=2),
                       segment_id=segment.pk, name="回访批次")  # fmt: skip
    task = GuideTask.objects.filter(status="open").first()  # the segment's customers who have a guide
    complete_task(task.guide, task.pk, "purchase_intent", "周末到店")


def _analytics(admin, customer_id: int) -> str:
    record_spend(admin, "douyin", "2026-01-01", "2026-12-31", "1000", "信息流广告")
    group = group_from_file(LIST_NAME, f"客户ID\n{customer_id}\n".encode())
    return save_customer_list(admin, group)


def _community(admin, tmp_path) -> int:
    """A chat archive imported with sensitive-word rules (an alert open, one handled), and a resigned guide's
    handover with customers taken over, waiting and refused, beside an 在职 transfer."""
    staff = list(StaffProfile.objects.exclude(wecom_userid="").order_by("wecom_userid")[:2])
    contacts = {s.wecom_userid: [f"wmdemo{i:04d}{k}" for i in range(4)] for k, s in enumerate(staff)}
    rooms = {f"wrdemo0{k}": [s.wecom_userid, *[f"wmroom{k}{i:03d}" for i in range(12)]] for k, s in enumerate(staff)}
    for rule in SAMPLE_RULES:
        save_rule(admin, **rule)
    path = write_archive_sample(tmp_path / "会话存档2025", contacts, rooms, timezone.now() - dt.timedelta(days=15))
    import_chat_archive(path, admin)
    handle_alert(admin, SensitiveAlert.objects.order_by("pk").first().pk, note="已提醒群主")
    now = timezone.now()
    handover = Handover.objects.create(handover_userid=staff[0].wecom_userid, takeover=staff[1], requested_by=admin,
                                       requested_at=now - dt.timedelta(hours=30))  # fmt: skip
    HandoverItem.objects.bulk_create([
        HandoverItem(handover=handover, kind="customer", external_userid="wmdemo00010", status=1, checked_at=now,
                     takeover_time=now - dt.timedelta(hours=6), owner_assigned=True),
        HandoverItem(handover=handover, kind="customer", external_userid="wmdemo00020", status=2, checked_at=now,
                     takeover_time=now + dt.timedelta(hours=2)),
        HandoverItem(handover=handover, kind="customer", external_userid="wmdemo00030", status=3, checked_at=now),
        HandoverItem(handover=handover, kind="customer", external_userid="wmdemo00000", refusal="transfer_limit",
                     checked_at=now),
        HandoverItem(handover=handover, kind="group", chat_id="wrdemo00", status=1, checked_at=now),
        HandoverItem(handover=handover, kind="group", chat_id="wrdemo09", errcode=90500, refusal="wecom",
                     checked_at=now),
    ])  # fmt: skip
    WeComTransfer.objects.create(external_userid="wmdemo00011", handover_userid=staff[1].wecom_userid,
                                 takeover_userid=staff[0].wecom_userid, transferred_at=now - dt.timedelta(days=3))  # fmt: skip
    return handover.pk
def _group_operations(admin) -> tuple[int, int]:
    """A group code (one group rotated off it), a group welcome message, a group mass message, as WeCom
    accepted them; and a group SOP whose one run has entered both groups."""
    now = timezone.now()
    welfare, vip = CustomerGroup.objects.get(chat_id="wrWords01"), CustomerGroup.objects.get(chat_id="wrWords02")
    code = GroupCode.objects.create(name="静安店福利码", config_id="9ad7fa5cdaa6511298498f15fe3d9999", state="store-S01",
                                    qr_url="https://wework.qpic.cn/wwpic/words_join_way/0", room_base_name="静安福利群")  # fmt: skip
    GroupCodeSlot.objects.create(code=code, group=welfare, position=0, added_at=now)
    GroupCodeSlot.objects.create(code=code, group=vip, position=1, added_at=now - dt.timedelta(days=9),
                                 removed_at=now - dt.timedelta(days=2), removed_because="full")  # fmt: skip
    GroupWelcomeTemplate.objects.create(name="福利群欢迎", text="欢迎加入静安店福利群，每周三有券", template_id="msgWords01")
    message = GroupMessage.objects.create(text="周末到店有礼", msgids={"guide01": "msgWords02"}, sent_by=admin)
    message.groups.set([welfare, vip])
    journey = save_journey(admin, name="福利群周报", audience="groups", groups={"group_type": "welfare"},
                           trigger={"type": "once"}, steps=[{"type": "wait_window", "start": "09:00",
                                                             "end": "11:00"},
                                                            {"type": "send_group", "content": "本周福利"}])  # fmt: skip
    activate_journey(admin, journey.pk)
    enroll_groups(journey)
    return code.pk, journey.pk


def _customer_groups(customer_id: int) -> int:
    """Two store groups sharing members (one left within a week), as the WeCom group sync lands them."""
    now = timezone.now()
    welfare = CustomerGroup.objects.create(chat_id="wrWords01", name="静安店福利群", group_type="welfare",
                                           owner_userid="guide01", member_count=4, created_at=now, synced_at=now,
                                           tags=["门店福利"])  # fmt: skip
    vip = CustomerGroup.objects.create(chat_id="wrWords02", name="静安店会员群", group_type="vip",
                                       owner_userid="guide01", member_count=4, created_at=now, synced_at=now)  # fmt: skip
    for group in (welfare, vip):
        GroupMember.objects.create(group=group, member_id="guide01", is_staff=True, joined_at=now - dt.timedelta(days=20))
        for n in range(1, 4):
            GroupMember.objects.create(group=group, member_id=f"wm{n:03d}", customer_id=customer_id if n == 1 else None,
                                       joined_at=now - dt.timedelta(days=10), join_scene=3, inviter="guide01")  # fmt: skip
    GroupMember.objects.create(group=welfare, member_id="wm009", joined_at=now - dt.timedelta(days=6), join_scene=2,
                               left_at=now - dt.timedelta(days=3), quit_scene=0)  # fmt: skip
    mirror_groups([welfare.pk, vip.pk])
    flag_duplicate_groups()  # the two share their members, as a sync would flag
    return welfare.pk


def _coupons(admin, customer_id: int) -> tuple[int, str]:
    """A percent-off template scoped to a product; one coupon used at the till, one voided, one unused."""
    from siyu.loyalty.coupons import actions as coupons

    template = coupons.save_template(admin, {"name": "春季八五折", "kind": "percent", "percent_off": "15",
                                             "max_discount": "50", "min_spend": "100", "products": "SKU-1",
                                             "validity": "days", "valid_days": 30, "per_member_limit": 3})  # fmt: skip
    used, void, unused = (coupons.issue_coupon(template.pk, customer_id, key=f"words:{n}", source="manual")
                          for n in range(3))  # fmt: skip
    coupons.redeem_coupon(used.code, key="words:redeem", order_ref="T-1", amount=200, products=["SKU-1"])
    coupons.void_coupon(admin, void.code, "错发")
    return template.pk, unused.code


def _loyalty_tiers_and_earning(admin) -> None:
    """Two tiers, earn rules of every kind and a run of the order earn job (so members earn, move up a tier
    and the pages show changes and runs)."""
    from siyu.loyalty.earning import actions as earning  # noqa: PLC0415 - keeps this brand's imports local
    from siyu.loyalty.tiers import actions as tiers  # noqa: PLC0415

    # above the demo's own three tiers (银卡, 金卡, 黑金 on spend)
    tiers.make_tier(admin, name="钻石卡", rank=4, measure="spend", threshold="100000", multiplier="1.2", birthday_points=50)
    tiers.make_tier(admin, name="星耀卡", rank=5, measure="orders", threshold="300", window_days=180, multiplier="2")
    earning.make_rule(admin, name="每元1分", kind="per_yuan", points_per_yuan="1")
    earning.make_rule(admin, name="门店双倍", kind="per_yuan", channel="线下门店", points_per_yuan="2", expiry="days")
    for name, kind, points in (("首单", "first_purchase", 100), ("生日", "birthday", 88), ("签到", "checkin", 5),
                               ("问卷", "survey", 20), ("每日上限", "daily_limit", 50)):  # fmt: skip
        earning.make_rule(admin, name=name, kind=kind, points=points, expiry="never")
    earning.earn_for_orders(full=True)


def _survey(admin, customer_id: int) -> int:
    """An open survey with a jump, an end, tags, an attribute, a scale and a text question, answered by the
    profile's customer and one other."""
    from siyu.surveys.actions import declare_attribute, make_survey, open_survey, record_response

    declare_attribute(admin, "肤质", "问卷回答")
    survey = make_survey(admin, title="肤质小调查", reward_note="答完送 10 积分", questions=[
        {"text": "您的肤质是？", "kind": "single", "attribute": "肤质", "tag_group": "肤质",
         "options": [{"label": "干性", "tag": "干皮"}, {"label": "油性", "jump": 3}, {"label": "不清楚", "jump": "end"}]},
        {"text": "关心哪些功效？", "kind": "multiple", "options": [{"label": "保湿"}, {"label": "美白"}]},
        {"text": "满意度", "kind": "scale", "scale_max": 5},
        {"text": "建议", "kind": "text", "required": False},
    ])  # fmt: skip
    open_survey(admin, survey.pk)
    q = list(survey.questions.prefetch_related("options"))
    o = [[x.pk for x in question.options.all()] for question in q]
    other = int(backend().table("customer_summary").filter(lambda t: t.customer_id != customer_id)
                .order_by("customer_id").limit(1).customer_id.to_pyarrow().to_pylist()[0])  # fmt: skip
    record_response(survey.pk, customer_id, {str(q[0].pk): o[0][0], str(q[1].pk): o[1], str(q[2].pk): 4,
                                             str(q[3].pk): "希望多出小样"}, key="words-1")  # fmt: skip
    record_response(survey.pk, other, {str(q[0].pk): o[0][1], str(q[2].pk): 2}, key="words-2")
    return survey.pk
