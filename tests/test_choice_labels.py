"""Model choices' labels are the console's words: gettext messages with English msgids, so that an operator who
switches the console (or a person's copy of their data) to English reads no Chinese there, while the default
Simplified Chinese stays word for word what it was. Every field with choices of every Siyu model is checked,
so a new Chinese literal label fails here."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.utils import translation

CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")

# the Chinese each label read before the labels became gettext messages (model label, field) -> value -> words
CHINESE = {
    ("staff.StaffProfile", "role"): {
        "admin": "管理员", "operator": "运营", "manager": "店长", "guide": "导购",
    },
    ("customers.Consent", "status"): {"opt_in": "同意", "opt_out": "免打扰"},
    ("customers.ProfileCorrection", "field"): {
        "name": "姓名", "phone": "手机号", "email": "邮箱", "address": "地址", "gender": "性别",
        "birthday": "生日",
    },
    ("privacy.DataRequest", "kind"): {"access": "查阅复制", "deletion": "删除", "correction": "更正"},
    ("privacy.DataRequest", "source"): {
        "member_centre": "会员中心", "staff": "员工代客户提交", "api": "接口",
    },
    ("privacy.DataRequest", "status"): {
        "open": "待处理", "in_progress": "处理中", "done": "已完成", "refused": "已拒绝",
    },
    ("privacy.DataRequestStep", "action"): {
        "opened": "提交", "assigned": "指派", "status": "状态变更", "note": "备注", "copied": "导出副本",
        "corrected": "更正资料", "erasure": "执行删除", "scan": "删除核验",
    },
    ("privacy.DataRequestStep", "status"): {
        "open": "待处理", "in_progress": "处理中", "done": "已完成", "refused": "已拒绝",
    },
    ("segments.Segment", "kind"): {"rule": "规则", "static": "名单"},
    ("segments.Segment", "refresh"): {
        "after_resolve": "每次识别后", "daily": "每天（定时刷新）", "manual": "手动",
    },
    ("engagement.Material", "kind"): {
        "image": "图片", "link": "链接", "mini_program": "小程序卡片", "case": "案例", "ugc": "买家秀",
    },
    ("engagement.ChannelAccount", "channel"): {
        "wecom": "企业微信群发", "sms": "短信", "email": "邮件", "webhook": "Webhook",
        "official_account": "公众号模板消息", "mini_program": "小程序订阅消息",
    },
    ("engagement.ChannelAccount", "provider"): {
        "wecom": "企业微信", "aliyun": "阿里云短信", "tencent": "腾讯云短信", "smtp": "SMTP",
        "webhook": "Webhook", "wechat_oa": "微信公众号", "wechat_mp": "微信小程序",
    },
    ("engagement.Send", "channel"): {
        "wecom": "企业微信群发", "wecom_app": "企业微信应用消息", "wecom_welcome": "企业微信欢迎语",
        "official_account": "公众号模板消息", "mini_program": "小程序订阅消息", "sms": "短信",
        "email": "邮件", "webhook": "Webhook", "guide": "导购一对一",
    },
    ("engagement.Send", "source"): {
        "journey": "SOP", "campaign": "活动", "task": "导购任务", "manual": "手动",
    },
    ("engagement.Send", "status"): {
        "queued": "排队中", "suppressed": "已拦截", "sending": "发送中", "sent": "已发送",
        "failed_retryable": "失败待重试", "failed_permanent": "失败",
    },
    ("engagement.TemplateRefusal", "channel"): {
        "wecom": "企业微信群发", "wecom_app": "企业微信应用消息", "wecom_welcome": "企业微信欢迎语",
        "official_account": "公众号模板消息", "mini_program": "小程序订阅消息", "sms": "短信",
        "email": "邮件", "webhook": "Webhook", "guide": "导购一对一",
    },
    ("engagement.TaskBatch", "assign"): {"owner": "专属导购", "capacity": "按容量分配"},
    ("engagement.GuideTask", "status"): {
        "open": "待跟进", "done": "已完成", "suppressed": "已拦截", "cancelled": "已取消",
    },
    ("engagement.GuideTask", "outcome"): {
        "reached": "已沟通", "no_answer": "未回复", "declined": "明确拒绝", "purchase_intent": "有购买意向",
    },
    ("engagement.Journey", "audience"): {"customers": "客户", "groups": "客户群"},
    ("engagement.Journey", "reentry"): {
        "once": "只进入一次", "after_exit": "结束后可再次进入", "cooldown": "结束满 N 天后可再次进入",
    },
    ("engagement.Journey", "status"): {"draft": "草稿", "active": "运行中", "paused": "已暂停"},
    ("engagement.Enrollment", "status"): {"active": "进行中", "exited": "已结束"},
    ("engagement.GroupEnrollment", "status"): {"active": "进行中", "exited": "已结束"},
    ("engagement.Handoff", "kind"): {"guide_task": "导购任务", "award_points": "发放积分"},
    ("community.SensitiveRule", "kind"): {"keyword": "关键词", "regex": "正则表达式"},
    ("community.SensitiveAlert", "status"): {"open": "待处理", "handled": "已处理"},
    ("community.Handover", "kind"): {"resigned": "离职继承", "on_job": "在职转接"},
    ("community.HandoverItem", "kind"): {"customer": "客户", "group": "客户群"},
    ("members.MemberSignIn", "method"): {"sms": "短信验证码", "wechat": "微信授权", "link": "一键登录链接"},
}


def choice_fields():
    for model in apps.get_models():
        if not model.__module__.startswith("siyu."):
            continue
        for field in model._meta.get_fields():
            if getattr(field, "concrete", False) and getattr(field, "choices", None):
                yield f"{model._meta.label}.{field.name}", model, field


def labels(field, language: str) -> dict[str, str]:
    with translation.override(language):
        return {str(value): str(words) for value, words in field.flatchoices}


@pytest.mark.parametrize("name,model,field", list(choice_fields()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_choice_label_is_english_in_english(name, model, field):
    chinese = [f"{value}: {words}" for value, words in labels(field, "en").items() if CJK.search(words)]
    assert chinese == [], f"{name} has labels that stay Chinese in English (make them gettext messages)"


def test_the_chinese_labels_are_what_they_were():
    fields = {name: field for name, _model, field in choice_fields()}
    assert {f"{model}.{field}" for model, field in CHINESE} <= set(fields), "a field here is gone: update CHINESE"
    for (model, field), expected in CHINESE.items():
        assert labels(fields[f"{model}.{field}"], "zh-hans") == expected, f"{model}.{field}"
        english = labels(fields[f"{model}.{field}"], "en")
        assert english.keys() == expected.keys()
        assert all(english[v] != words for v, words in expected.items() if CJK.search(words))  # translated


def test_a_touch_in_english_reads_english_words():
    from siyu.engagement.messaging.models import Send

    send = Send(channel="email", status="failed_retryable", source="journey")
    with translation.override("en"):
        assert (send.get_channel_display(), send.get_status_display(), send.get_source_display()) == (
            "Email", "Failed, will retry", "Journey")
    with translation.override("zh-hans"):
        assert (send.get_channel_display(), send.get_status_display(), send.get_source_display()) == (
            "邮件", "失败待重试", "SOP")
