"""Channel adapters: one module per provider, each speaking the provider's documented HTTP (or SMTP)
protocol. `siyu.engagement.messaging.queries.adapter_for(channel)` builds the adapter of the configured account."""

from __future__ import annotations

from siyu.engagement.messaging.channels.aliyun import AliyunSmsAdapter
from siyu.engagement.messaging.channels.base import ChannelAdapter
from siyu.engagement.messaging.channels.smtp import SmtpAdapter
from siyu.engagement.messaging.channels.tencent import TencentSmsAdapter
from siyu.engagement.messaging.channels.webhook import WebhookAdapter
from siyu.engagement.messaging.channels.wechat import (
    MiniProgramSubscribeAdapter,
    OfficialAccountTemplateAdapter,
)
from siyu.engagement.messaging.channels.wecom import WeComAppAdapter, WeComMassAdapter, WeComWelcomeAdapter

# (send channel, provider) -> adapter class
ADAPTERS: dict[tuple[str, str], type[ChannelAdapter]] = {
    ("wecom", "wecom"): WeComMassAdapter,
    ("wecom_app", "wecom"): WeComAppAdapter,
    ("wecom_welcome", "wecom"): WeComWelcomeAdapter,
    ("official_account", "wechat_oa"): OfficialAccountTemplateAdapter,
    ("mini_program", "wechat_mp"): MiniProgramSubscribeAdapter,
    ("sms", "aliyun"): AliyunSmsAdapter,
    ("sms", "tencent"): TencentSmsAdapter,
    ("email", "smtp"): SmtpAdapter,
    ("webhook", "webhook"): WebhookAdapter,
}

# What each provider's account form asks for: (settings fields, secret fields).
ACCOUNT_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "wecom": (
        # welcome_text: sent when a customer adds a staff member (empty: none), with the library material
        # welcome_material (an id, optional); sync_every_hours: the scheduled contact sync (empty: on demand)
        ("corp_id", "agent_id", "source", "base_url", "welcome_text", "welcome_material", "sync_every_hours"),
        ("contact_secret", "app_secret", "callback_token", "callback_aes_key"),
    ),
    "wechat_oa": (("appid", "source", "token_api", "base_url"), ("app_secret",)),
    "wechat_mp": (("appid", "source", "miniprogram_state", "token_api", "base_url"), ("app_secret",)),
    # receipt_token: the secret path segment of the delivery-receipt and reply callback URLs
    # code_template: the verification-code template (one variable, `code`) member sign-in sends
    "aliyun": (
        ("access_key_id", "sign_name", "code_template", "region", "base_url"),
        ("access_key_secret", "receipt_token"),
    ),
    "tencent": (
        ("secret_id", "sdk_app_id", "sign_name", "code_template", "region", "base_url"),
        ("secret_key", "receipt_token"),
    ),
    "smtp": (("host", "port", "security", "user", "from_address"), ("password",)),
    "webhook": (("url",), ("signing_secret",)),
}
