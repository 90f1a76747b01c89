import pytest
from members_helpers import land_brand

from siyu.engagement.messaging.actions import configure_account
from siyu.engagement.messaging.channels.wechat import WeChatClient
from siyu.engagement.messaging.fakes.sms import FakeAliyunSms, FakeTencentSms
from siyu.engagement.messaging.fakes.wechat import FakeWeChat


@pytest.fixture
def brand(warehouse, db):
    return land_brand()


@pytest.fixture
def aliyun(db):
    with FakeAliyunSms(templates={"SMS_100001": ["name"], "SMS_CODE": ["code"]}, per_number_per_minute=5) as fake:
        configure_account(None, "sms", "aliyun", {"access_key_id": "LTAI-test", "sign_name": "私域测试",
                                                 "code_template": "SMS_CODE", "base_url": fake.url},
                          {"access_key_secret": "aliyun-secret"})  # fmt: skip
        yield fake


@pytest.fixture
def tencent(db):
    with FakeTencentSms(templates={"100001": 1, "200002": 1}, per_number_per_30s=5) as fake:
        configure_account(None, "sms", "tencent", {"secret_id": "AKID-test", "sdk_app_id": "1400000001",
                                                  "sign_name": "私域", "code_template": "200002", "base_url": fake.url},
                          {"secret_key": "tencent-secret"})  # fmt: skip
        yield fake


@pytest.fixture
def wechat(db):
    WeChatClient._tokens.clear()
    with FakeWeChat() as fake:
        configure_account(None, "official_account", "wechat_oa",
                          {"appid": fake.appid, "base_url": fake.url, "source": "oa"}, {"app_secret": fake.secret})
        yield fake
    WeChatClient._tokens.clear()

