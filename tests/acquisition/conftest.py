"""Fixtures for acquisition: the fake WeCom with staff members, a WeCom account pointing at it (callbacks
configured), and guides with WeCom userids in a store."""

import pytest
from acquisition_helpers import AES_KEY, CALLBACK_TOKEN, CORP
from django.utils import timezone

from siyu.engagement.messaging.actions import configure_account
from siyu.engagement.messaging.channel_actions import _mirror_corp_tags
from siyu.engagement.messaging.channels.wecom import WeComClient
from siyu.engagement.messaging.fakes.wecom import FakeWeCom
from siyu.staff.actions import create_user, ensure_store


@pytest.fixture
def fake():
    with FakeWeCom(corp_id=CORP) as server:
        server.members.update({"guide1", "guide2", "guide3", "backup1"})
        server.add_tag_group("渠道", {"tag-store": "门店", "tag-card": "包裹卡"})
        yield server


@pytest.fixture
def wecom_client(fake):
    return WeComClient(CORP, "contact-secret", fake.url)


@pytest.fixture
def account(fake, db):
    return configure_account(
        None, "wecom", "wecom",
        {"corp_id": CORP, "base_url": fake.url, "welcome_text": "默认欢迎语"},
        {"contact_secret": "contact-secret", "callback_token": CALLBACK_TOKEN, "callback_aes_key": AES_KEY},
    )  # fmt: skip


@pytest.fixture
def corp_tags(account, fake):
    """WeCom's tag library mirrored as a sync would."""
    return _mirror_corp_tags(fake.tag_groups, timezone.now())


@pytest.fixture
def team(db):
    """Store SH01 with guides 小王 (guide1) and 小李 (guide2); 小周 (backup1) at head office; an operator;
    小赵, a guide of SH01 without a WeCom userid."""
    sh = ensure_store("SH01", "上海南京西路店")
    return {
        "sh": sh,
        "ops": create_user("ops", "pw-ops-1", "operator", display_name="运营小张"),
        "g1": create_user("g1", "pw-g1-1", "guide", store=sh, display_name="小王", wecom_userid="guide1"),
        "g2": create_user("g2", "pw-g2-1", "guide", store=sh, display_name="小李", wecom_userid="guide2"),
        "b1": create_user("b1", "pw-b1-1", "operator", display_name="小周", wecom_userid="backup1"),
        "g4": create_user("g4", "pw-g4-1", "guide", store=sh, display_name="小赵"),
    }
