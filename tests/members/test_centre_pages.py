"""The member centre's loyalty and survey pages, as a member on a phone uses them: home, points history,
check-in, the rewards mall, the coupon wallet and surveys. Every page needs a member session and shows the
member's own data only."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from centre_helpers import ADDRESS, give_points, programme, qr_codes_on, sign_in
from django.utils import timezone

from siyu.loyalty.checkin import actions as checkin_actions
from siyu.loyalty.checkin.models import Checkin
from siyu.loyalty.coupons.discounts import shown_code
from siyu.loyalty.mall.models import MallItem, MallRedemption
from siyu.loyalty.points.models import PointsEntry
from siyu.loyalty.points.queries import balance_of
from siyu.staff.actions import create_user
from siyu.surveys.models import SurveyResponse

pytestmark = pytest.mark.django_db
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


@pytest.fixture
def ops(db):
    return create_user("ops", "pw-ops-1", "operator", display_name="运营小张")


@pytest.fixture
def shop(brand, ops):
    return programme(ops, brand)


@pytest.fixture
def one(client, brand, shop):
    sign_in(client, brand["one"])
    return brand["one"]


def get(client, path):
    return client.get(path, **ZH)


def page(client, path) -> str:
    response = get(client, path)
    assert response.status_code == 200, (path, response.status_code)
    return response.content.decode()


def token_of(html: str) -> str:
    return re.search(r'name="token" value="([0-9a-f]{32})"', html).group(1)


def member_pages(shop) -> list[str]:
    coupon = shop["coupons"]["one"]
    return ["/m/", "/m/points/", "/m/checkin/", "/m/mall/", f"/m/mall/{shop['gift'].pk}/", "/m/coupons/",
            f"/m/coupons/{coupon.pk}/", "/m/surveys/", f"/m/surveys/{shop['branching'].pk}/",
            f"/m/surveys/{shop['flat'].pk}/"]  # fmt: skip


def test_every_page_needs_a_member_session(client, shop):
    for path in member_pages(shop):
        response = get(client, path)
        assert response.status_code == 302 and response["Location"].startswith("/m/sign-in/?next=/m/"), path
    assert client.post("/m/checkin/", {"action": "check_in"}).status_code == 302
    assert not Checkin.objects.exists()


def test_home_shows_points_tier_coupons_and_whats_new(client, one, shop):
    html = page(client, "/m/")
    assert 'data-available="1000"' in html and 'data-coupons="1"' in html
    assert "银卡" in html and "金卡" in html  # the tier held and the next one, with the progress toward it
    assert "¥387.00" in html and "¥1000.00" in html  # spent ¥299 + ¥88 of ¥1000
    assert "家庭小调查" in html and "保温杯" in html and "今天还没有签到" in html
    # the bottom navigation links the pages
    for path in ("/m/points/", "/m/checkin/", "/m/mall/", "/m/coupons/", "/m/privacy/"):
        assert f'href="{path}"' in html


def test_points_history_is_paged_in_chinese_words(client, one, brand):
    for n in range(25):
        give_points(one, 1, key=f"small:{n}")
    give_points(brand["two"], 7777, key="other")
    first = page(client, "/m/points/")
    assert first.count("品牌赠送") == 20 and "7777" not in first and "journey" not in first
    second = page(client, "/m/points/?page=2")
    assert second.count("品牌赠送") == 6  # 25 small ones and the 1000 of the programme
    assert page(client, "/m/points/?page=abc").count("品牌赠送") == 20


def test_checking_in_twice_gives_one_reward(client, one):
    first = client.post("/m/checkin/", {"action": "check_in"}, follow=True, **ZH).content.decode()
    assert "+5 积分" in first and 'data-checked="1"' in first
    again = client.post("/m/checkin/", {"action": "check_in"}, follow=True, **ZH).content.decode()
    assert "今天已经签到" in again
    assert Checkin.objects.filter(customer_id=one).count() == 1
    assert balance_of(one).available == 1005
    assert PointsEntry.objects.filter(customer_id=one, source="checkin").count() == 1


def test_a_make_up_card_fills_a_missed_day_and_mends_the_streak(client, one, ops):
    today = timezone.localdate()
    checkin_actions.check_in(one, day=today - dt.timedelta(days=2))
    html = page(client, "/m/checkin/")
    assert 'name="action" value="make_up"' not in html  # no card, no make-up button
    refused = client.post("/m/checkin/", {"action": "make_up", "day": str(today - dt.timedelta(days=1))},
                          follow=True, **ZH).content.decode()  # fmt: skip
    assert "没有补签卡" in refused
    checkin_actions.grant_makeup_cards(ops, one, 1)
    assert 'value="make_up"' in page(client, "/m/checkin/")
    client.post("/m/checkin/", {"action": "make_up", "day": str(today - dt.timedelta(days=1))}, **ZH)
    client.post("/m/checkin/", {"action": "check_in"}, **ZH)
    assert Checkin.objects.get(customer_id=one, day=today).streak == 3
    assert 'data-streak="3"' in page(client, "/m/checkin/")


def test_a_mall_redemption_spends_points_takes_stock_and_a_double_tap_redeems_once(client, one, shop):
    gift = shop["gift"]
    form = page(client, f"/m/mall/{gift.pk}/")
    token = token_of(form)
    data = {"token": token, "quantity": "1", **ADDRESS}
    first = client.post(f"/m/mall/{gift.pk}/", data, **ZH)
    second = client.post(f"/m/mall/{gift.pk}/", data, **ZH)
    assert first.status_code == second.status_code == 302 and first["Location"] == second["Location"]
    assert MallRedemption.objects.filter(customer_id=one).count() == 1
    assert balance_of(one).available == 900 and MallItem.objects.get(pk=gift.pk).stock == 2
    shown = page(client, first["Location"])
    assert "保温杯 × 1" in shown and "待发货" in shown
    # the address is remembered for the next gift
    assert 'value="南京西路1号"' in page(client, f"/m/mall/{gift.pk}/")


def test_the_mall_refuses_in_clear_chinese_and_takes_nothing(client, one, brand, shop):
    gift, sold_out = shop["gift"], shop["sold_out"]
    out = client.post(f"/m/mall/{sold_out.pk}/", {"token": "a" * 32, "quantity": "1", **ADDRESS}, **ZH)
    assert out.status_code == 409 and "已兑完" in out.content.decode()
    limit = client.post(f"/m/mall/{gift.pk}/", {"token": "b" * 32, "quantity": "3", **ADDRESS}, **ZH)
    assert limit.status_code == 409 and "兑换数量已达上限" in limit.content.decode()
    no_address = client.post(f"/m/mall/{gift.pk}/", {"token": "c" * 32, "quantity": "1"}, **ZH)
    assert no_address.status_code == 409 and "收件人" in no_address.content.decode()
    sign_in(client, brand["two"])
    client.post(f"/m/mall/{shop['coupon_item'].pk}/", {"token": "d" * 32, "quantity": "1"}, **ZH)
    assert balance_of(brand["two"]).available == 950
    from siyu.loyalty.points import actions as points_actions

    points_actions.spend_points(brand["two"], 900, key="spend-most", reason="test", source="till")
    poor = client.post(f"/m/mall/{gift.pk}/", {"token": "e" * 32, "quantity": "1", **ADDRESS}, **ZH)
    assert poor.status_code == 409 and "积分不足" in poor.content.decode()
    assert MallItem.objects.get(pk=gift.pk).stock == 3 and balance_of(brand["two"]).available == 50
    assert MallRedemption.objects.filter(item=gift).count() == 0


def test_another_members_coupon_and_redemption_are_not_found(client, one, brand, shop):
    theirs = shop["coupons"]["two"]
    assert get(client, f"/m/coupons/{theirs.pk}/").status_code == 404
    assert theirs.code not in page(client, "/m/coupons/")
    sign_in(client, brand["two"])
    done = client.post(f"/m/mall/{shop['coupon_item'].pk}/", {"token": "f" * 32, "quantity": "1"}, **ZH)
    redemption_path = done["Location"]
    assert get(client, redemption_path).status_code == 200
    sign_in(client, one)
    assert get(client, redemption_path).status_code == 404
    assert get(client, "/m/mall/999999/").status_code == 404


def test_the_wallet_shows_a_qr_that_the_till_reads_as_the_code(client, one, shop):
    mine = shop["coupons"]["one"]
    html = page(client, "/m/coupons/")
    assert qr_codes_on(html) == [mine.code]
    assert shown_code(mine.code) in html and "满100减20" in html and "减¥20" in html
    assert qr_codes_on(page(client, f"/m/coupons/{mine.pk}/")) == [mine.code]
    # a coupon used at the till moves to the used ones, without a QR
    from siyu.loyalty.coupons import actions as coupon_actions

    coupon_actions.redeem_coupon(mine.code, key="till-1", amount="150.00")
    html = page(client, "/m/coupons/")
    assert qr_codes_on(html) == [] and "已使用" in html and 'id="done"' in html


def _answer(client, path, post) -> str:
    response = client.post(path, post, **ZH)
    assert response.status_code == 200, response.content.decode()[:2000]
    return response.content.decode()


def _state(html: str) -> str:
    return re.search(r'name="state" value="([^"]+)"', html).group(1)


def test_a_branching_survey_is_asked_a_question_a_page_and_pays_once(client, one, shop):
    survey = shop["branching"]
    questions = {q.position: q for q in survey.questions.prefetch_related("options")}
    options = {(q.position, o.label): o.pk for q in questions.values() for o in q.options.all()}
    path = f"/m/surveys/{survey.pk}/"
    html = page(client, path)
    assert "家里有孩子吗" in html and "孩子几岁" not in html
    # 没有 jumps over question 2 to question 3
    html = _answer(client, path, {"token": token_of(html), "state": _state(html), f"q{questions[1].pk}": options[(1, "没有")]})
    assert "对我们满意吗" in html and "孩子几岁" not in html
    last = {"token": token_of(html), "state": _state(html), f"q{questions[3].pk}": "4"}
    done = _answer(client, path, last)
    assert 'data-earned="10"' in done and "+10 积分" in done
    again = _answer(client, path, last)  # a double tap on the last page
    assert 'data-earned="10"' in again
    response = SurveyResponse.objects.get(customer_id=one)
    assert response.answers == {str(questions[1].pk): options[(1, "没有")], str(questions[3].pk): 4}
    assert PointsEntry.objects.filter(customer_id=one, source="survey").count() == 1
    assert balance_of(one).available == 1010
    assert "已经答过" in page(client, path)
    assert "家庭小调查" not in page(client, "/m/surveys/")


def test_a_survey_without_branching_is_one_form(client, one, shop):
    survey = shop["flat"]
    q1, q2 = survey.questions.order_by("position")
    html = page(client, f"/m/surveys/{survey.pk}/")
    assert "您最喜欢哪些产品" in html and "还有什么建议" in html and 'name="state"' not in html
    missing = client.post(f"/m/surveys/{survey.pk}/", {"token": token_of(html)}, **ZH)
    assert missing.status_code == 400 and "必须回答" in missing.content.decode()
    picks = [str(o.pk) for o in q1.options.all()]
    done = _answer(client, f"/m/surveys/{survey.pk}/", {"token": token_of(html), f"q{q1.pk}": picks, f"q{q2.pk}": "多出小样"})
    assert 'data-earned="10"' in done
    assert SurveyResponse.objects.get(customer_id=one).answers == {str(q1.pk): [int(p) for p in picks], str(q2.pk): "多出小样"}


def test_a_tampered_survey_state_starts_again(client, one, shop):
    survey = shop["branching"]
    html = page(client, f"/m/surveys/{survey.pk}/")
    response = client.post(f"/m/surveys/{survey.pk}/", {"token": token_of(html), "state": _state(html) + "x"}, **ZH)
    assert response.status_code == 400 and "家里有孩子吗" in response.content.decode()
    assert not SurveyResponse.objects.exists()


def test_the_staff_profile_shows_the_loyalty_card(client, one, shop):
    from siyu.privacy import actions as privacy_actions

    client.post("/m/checkin/", {"action": "check_in"}, **ZH)
    html = page(client, f"/m/surveys/{shop['flat'].pk}/")
    q1 = shop["flat"].questions.get(position=1)
    client.post(f"/m/surveys/{shop['flat'].pk}/", {"token": token_of(html), f"q{q1.pk}": [str(q1.options.first().pk)]}, **ZH)
    privacy_actions.open_request(customer_id=one, kind="access", source="member_centre", verification="短信验证码")
    admin = create_user("boss", "pw-boss-1", "admin", display_name="管理员")
    client.force_login(admin)
    profile = page(client, f"/customers/{one}/")
    card = profile[profile.index('id="loyalty"'):]
    card = card[: card.index("</section>")]
    assert 'data-loyalty="available">1015' in card  # 1000 + 5 for the check-in + 10 for the survey
    assert "银卡" in card and "可用 1 张" in card and str(timezone.localdate()) in card
    assert "产品偏好" in card and "个人信息申请" in card and "查阅复制 · 待处理" in card
