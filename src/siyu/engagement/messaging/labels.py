"""The words operators read for messaging's codes: send channels, statuses and sources, providers and the
fields of a channel account. English msgids, Chinese in the catalogue."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from siyu.analytics.labels import OPERATIONS
from siyu.core.labels import label

# siyu.engagement.models.Channel
SEND_CHANNELS = {
    "wecom": _("WeCom mass message"),
    "wecom_app": _("WeCom app message"),
    "wecom_welcome": _("WeCom welcome message"),
    "official_account": _("Official account template message"),
    "mini_program": _("Mini program subscription message"),
    "sms": _("SMS"),
    "email": _("Email"),
    "webhook": _("Webhook"),
    "guide": _("Guide 1-on-1"),
}

# siyu.engagement.models.Send.Status
SEND_STATUSES = {
    "queued": _("Queued"),
    "suppressed": _("Suppressed"),
    "sending": _("Sending"),
    "sent": pgettext_lazy("status of a send", "Sent"),
    "failed_retryable": _("Failed, will retry"),
    "failed_permanent": _("Failed"),
}

# siyu.engagement.models.Send.Source: what sent it (the analytics call it an operation)
SEND_SOURCES = OPERATIONS

# siyu.engagement.models.Provider
PROVIDERS = {
    "wecom": _("WeCom"),
    "aliyun": _("Aliyun SMS"),
    "tencent": _("Tencent Cloud SMS"),
    "smtp": _("SMTP mail server"),
    "webhook": _("Webhook"),
    "wechat_oa": _("WeChat official account"),
    "wechat_mp": _("WeChat mini program"),
}

# The settings and secrets of a channel account (siyu.engagement.messaging.channels.ACCOUNT_FIELDS), under the names
# the providers' own consoles give them, so that an operator finds what to copy.
ACCOUNT_FIELDS = {
    "corp_id": _("Corp ID (CorpID)"),
    "agent_id": _("App AgentId"),
    "source": _("Source name of the synced contacts"),
    "base_url": _("API address (empty: the provider's)"),
    "welcome_text": _("Welcome message (empty: none)"),
    "welcome_material": _("Material sent with the welcome message (its number in the library)"),
    "sync_every_hours": _("Sync contacts every (hours; empty: only on demand)"),
    "contact_secret": _("Customer contact Secret"),
    "app_secret": _("App Secret"),
    "callback_token": _("Callback Token"),
    "callback_aes_key": _("Callback EncodingAESKey"),
    "appid": _("AppID"),
    "token_api": _("Address that hands out the access token (optional)"),
    "miniprogram_state": _("Mini program version a message opens"),
    "access_key_id": _("AccessKey ID"),
    "access_key_secret": _("AccessKey Secret"),
    "sign_name": _("SMS signature"),
    "code_template": _("Verification code template (member sign-in)"),
    "region": _("Region (empty: the provider's default)"),
    "receipt_token": _("Receipt password (part of the receipt addresses)"),
    "secret_id": _("SecretId"),
    "secret_key": _("SecretKey"),
    "sdk_app_id": _("SMS SdkAppId"),
    "host": _("Mail server"),
    "port": _("Port"),
    "security": _("Encryption"),
    "user": _("User name"),
    "password": _("Password"),
    "from_address": _("Sender address"),
    "url": _("Address (URL)"),
    "signing_secret": _("Signing secret"),
}

# Settings that take one of a few values: value -> words ("" when the setting may stay empty)
ACCOUNT_FIELD_CHOICES = {
    "security": {"": _("STARTTLS on port 587, else none"), "tls": _("SSL/TLS"), "starttls": _("STARTTLS"),
                 "none": _("No encryption")},
    "miniprogram_state": {"formal": _("Released version"), "trial": _("Trial version"),
                          "developer": _("Developer version")},
}  # fmt: skip


def account_fields(names) -> list[dict]:
    """The fields of a channel account's form: name, words, and the choices of a setting that has some."""
    return [{"name": name, "label": label(ACCOUNT_FIELDS, name), "choices": ACCOUNT_FIELD_CHOICES.get(name)}
            for name in names]  # fmt: skip


# siyu.engagement.models.Journey.Status and Journey.Reentry
