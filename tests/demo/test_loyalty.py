"""siyu.demo.loyalty: after a small demo the brand has a loyalty programme an operator can look at — members in
every tier with ledgers whose entries add up to their balances, coupons issued, used (at the till and by
imported orders) and expired, check-ins with streaks, mall redemptions with a fulfilment list, a survey's
answers with their tags, privacy requests — and the console's loyalty and survey pages show them."""

from __future__ import annotations

import io
from collections import Counter

import pytest
from django.core.management import call_command
from django.db.models import Sum

from siyu.customers.models import CustomerTag
from siyu.loyalty.checkin.models import Checkin
from siyu.loyalty.coupons.models import Coupon
from siyu.loyalty.mall.models import MallRedemption
from siyu.loyalty.points.models import PointsEntry
from siyu.loyalty.points.queries import balances_of, lots_disagreeing_with_entries, trial_balance
from siyu.loyalty.tiers.models import MemberTier, Tier
from siyu.privacy.models import DataRequest
from siyu.surveys.models import Survey, SurveyResponse

pytestmark = pytest.mark.django_db
PEOPLE = 1500


def test_a_small_demo_has_a_loyalty_programme_with_data_on_every_page(settings, tmp_path, warehouse, client):
    settings.UPLOADS_DIR = tmp_path / "uploads"
    out = io.StringIO()
    call_command("demo", people=PEOPLE, seed=7, no_serve=True, stdout=out)
    printed = out.getvalue()
    assert "loyalty:" in printed and "check-ins:" in printed

    # the ledger: every member's entries add up to their balance (available + pending); the books balance
    sums = dict(PointsEntry.objects.values("customer_id").annotate(n=Sum("points")).values_list("customer_id", "n"))
    assert len(sums) > 300
    balances = balances_of(list(sums))
    assert all(balances[cid].available + balances[cid].pending == total for cid, total in sums.items())
    assert lots_disagreeing_with_entries() == []
    assert sum(trial_balance().values()) == 0
    sources = set(PointsEntry.objects.values_list("source", flat=True))
    assert {"order", "first_purchase", "checkin", "survey", "mall"} <= sources

    # every tier has members; upgrades gave their coupons
    held = Counter(MemberTier.objects.exclude(tier=None).values_list("tier__name", flat=True))
    assert all(held[t.name] > 0 for t in Tier.objects.all()) and Tier.objects.count() == 3
    assert Coupon.objects.filter(source="tier").exists()

    # coupons issued, used (at the till and by imported orders carrying their code) and expired
    statuses = Counter(Coupon.objects.values_list("status", flat=True))
    assert statuses["issued"] > 0 and statuses["used"] > 0 and statuses["expired"] > 0
    assert Coupon.objects.filter(used_via="redemption", channel="till").exists()
    assert Coupon.objects.filter(used_via="import").exists()
    assert Coupon.objects.filter(source="segment").count() > Coupon.objects.filter(status="used").count()

    # check-ins with streaks; the mall's three kinds of items, a gift to ship with its address
    assert Checkin.objects.filter(streak__gte=7).exists() and Checkin.objects.count() > 200
    kinds = Counter(MallRedemption.objects.values_list("item__kind", flat=True))
    assert kinds["coupon"] > 0 and kinds["gift"] > 0 and kinds["points_cash"] > 0
    assert MallRedemption.objects.filter(status="to_ship").exclude(address_cipher=None).exists()

    # the survey: a few hundred answers, their tags on the members, survey points
    survey = Survey.objects.get()
    assert SurveyResponse.objects.filter(survey=survey).count() >= 20  # 1,500 people: 30 asked
    assert CustomerTag.objects.filter(tag__name__in=["油皮", "干皮", "混合皮", "敏感肌"]).count() > 0
    assert DataRequest.objects.count() == 2

    # the console shows them
    client.force_login(_admin())
    for url in ("/loyalty/tiers/", "/loyalty/earning/", "/loyalty/coupons/", "/loyalty/checkin/", "/loyalty/mall/",
                "/loyalty/mall/redemptions/", "/surveys/", f"/surveys/{survey.pk}/", f"/surveys/{survey.pk}/results/",
                "/privacy/requests/"):  # fmt: skip
        response = client.get(url)
        assert response.status_code == 200, url
    assert "黑金" in client.get("/loyalty/tiers/").content.decode()
    fulfilment = client.get("/loyalty/mall/fulfilment.csv")
    assert fulfilment.status_code == 200 and "品牌帆布托特包" in fulfilment.content.decode("utf-8-sig")
    assert "油性" in client.get(f"/surveys/{survey.pk}/results/").content.decode()


def _admin():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="admin")
