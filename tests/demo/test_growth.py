"""siyu.demo.growth: the demo brand's pool grown through the fake WeCom — live-code adds and deletes in the
acquisition quality, groups with joins, leaves and early leavers in the health figures, a chat archive with
alerts and silent members, a resigned guide's handover — the WeCom account left disabled, the same for a seed."""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter

import pytest
from django.core.management import call_command

from siyu.acquisition.models import LiveCode, LiveCodeAdd
from siyu.acquisition.quality import acquisition_quality
from siyu.acquisition.queries import codes_for_quality
from siyu.community.archive import queries as archive_queries
from siyu.community.archive.models import SensitiveAlert
from siyu.community.groups import queries as group_queries
from siyu.community.groups.models import CustomerGroup, GroupCode, GroupMember
from siyu.community.handover.models import Handover, HandoverItem
from siyu.demo.generate import DEMO_AS_OF
from siyu.engagement.messaging import queries as messaging_queries
from siyu.engagement.messaging.actions import configure_account

pytestmark = pytest.mark.django_db
PEOPLE = 1500
AS_OF = dt.datetime.combine(DEMO_AS_OF + dt.timedelta(days=1), dt.time(), dt.UTC)
SIGNATURES: list[dict] = []


def _grow(settings, tmp_path) -> str:
    settings.UPLOADS_DIR = tmp_path / "uploads"
    out = io.StringIO()
    call_command("demo", people=PEOPLE, seed=7, no_serve=True, stdout=out)
    return out.getvalue()


def _signature(warehouse) -> dict:
    """What a second demo of the same seed must repeat (not which guide took an add: routing reads the clock)."""
    con = warehouse.raw_connection()
    events = con.execute(
        "SELECT event_type, json_extract_string(properties, '$.change_type') AS change, count(*) FROM events "
        "WHERE event_type IN ('wecom_contact_added', 'wecom_contact_deleted', 'code_scanned', 'wecom_group_update') "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    return {
        "adds": sorted(Counter(LiveCodeAdd.objects.values_list("code__name", flat=True)).items()),
        "added_at": sorted(str(a) for a in LiveCodeAdd.objects.values_list("external_userid", "added_at")),
        "events": events,
        "groups": sorted(CustomerGroup.objects.values_list("name", "group_type", "member_count")),
        "stays": sorted(str(s) for s in GroupMember.objects.values_list("member_id", "joined_at", "left_at")),
        "alerts": SensitiveAlert.objects.count(),
        "handover": sorted(HandoverItem.objects.values_list("kind", "external_userid", "chat_id", "status")),
    }


def test_every_acquisition_and_community_figure_has_data_after_a_small_demo(settings, tmp_path, warehouse):
    printed = _grow(settings, tmp_path)
    assert "the demo's WeCom is a local fake used while generating" in printed
    # the fake is gone: the account stays, disabled, so the server never calls it
    account = messaging_queries.account_of("wecom")
    assert account is not None and account.enabled is False

    # live codes: one per store and the four campaigns, with costs, welcome texts, schedules and limits
    assert LiveCode.objects.filter(kind=LiveCode.Kind.STORE).count() == 24
    campaigns = LiveCode.objects.filter(kind=LiveCode.Kind.STAFF)
    assert sorted(campaigns.values_list("channel", flat=True)) == ["online_event", "package_card", "poster", "receipt"]
    assert all(c.cost and c.welcome_text for c in campaigns)
    rows = [r for code in campaigns for r in code.staff.all()]
    assert any(r.daily_limit for r in rows) and any(r.schedule for r in rows) and any(r.backup for r in rows)

    # acquisition quality: adds through the codes in the 90 days, deletes within 1, 7 and 30 days
    quality = acquisition_quality(codes_for_quality(), as_of=AS_OF)
    rows = quality["code"]
    assert sum(r["adds"] for r in rows) == LiveCodeAdd.objects.values("external_userid").distinct().count() > 10
    assert sum(r["deleted_30"] for r in rows) > 0 and sum(r["deleted_1"] for r in rows) > 0
    assert sum(r["deleted_30"] for r in rows) > sum(r["deleted_1"] for r in rows)
    assert sum(r["customer_deleted_30"] for r in rows) > 0
    assert {r["key"] for r in quality["channel"] if r["adds"]} >= {"store"}
    first = LiveCodeAdd.objects.order_by("added_at").first().added_at
    assert AS_OF - dt.timedelta(days=91) <= first and LiveCodeAdd.objects.filter(added_at__gte=AS_OF).count() == 0
    # the adds' people are customers after the resolve (new people too: their contact was landed)
    assert not LiveCodeAdd.objects.filter(customer_id=None).exists()

    # groups: every store has a welfare group and others; joins, leaves dated in the past, early leavers
    assert CustomerGroup.objects.filter(group_type="welfare").count() >= 24
    assert {"vip", "product", "city"} <= set(CustomerGroup.objects.values_list("group_type", flat=True))
    left = GroupMember.objects.exclude(left_at=None)
    assert left.count() > 0 and not left.filter(left_at__gte=AS_OF).exists()
    health = group_queries.group_health(start=(AS_OF - dt.timedelta(days=90)).date(), end=DEMO_AS_OF)
    assert health["early"]["joins"] > 0 and health["early"]["early_leaves"] > 0
    assert sum(r["leaves"] for r in health["by_type"]) > 0
    assert health["duplicates"], "the near-duplicate welfare groups are flagged"
    assert GroupCode.objects.count() == 2

    # the chat archive: alerts from the sample rules, silent members, guides' response times
    assert SensitiveAlert.objects.exists()
    silent = archive_queries.silent_members(3, as_of=AS_OF)
    assert silent["members"] and any(r["silent"] for r in silent["rooms"])
    assert any(r["replies"] for r in archive_queries.response_times())

    # the handover of a resigned guide: customers accepted and refused, their groups passed on
    handover = Handover.objects.get()
    statuses = Counter(handover.items.filter(kind="customer").values_list("status", flat=True))
    assert statuses[1] > 0 and statuses[3] > 0 and handover.settled_at is not None
    assert handover.items.filter(kind="group", status=1).exists()
    SIGNATURES.append(_signature(warehouse))


def test_the_same_seed_grows_the_same_pool(settings, tmp_path, warehouse):
    if not SIGNATURES:
        pytest.skip("compares with the demo of the test before it (each test has its own database)")
    _grow(settings, tmp_path)
    assert _signature(warehouse) == SIGNATURES[0]


def test_a_home_with_a_real_wecom_account_keeps_it_and_grows_nothing(settings, tmp_path, warehouse):
    configure_account(None, "wecom", "wecom", {"corp_id": "ww-brand-real", "base_url": "https://qyapi.example.com"},
                      {"contact_secret": "real-secret"})  # fmt: skip
    settings.UPLOADS_DIR = tmp_path / "uploads"
    out = io.StringIO()
    call_command("demo", people=300, seed=7, no_serve=True, stdout=out)
    assert "a WeCom account is configured" in out.getvalue()
    account = messaging_queries.account_of("wecom")
    assert (account.enabled, account.settings["corp_id"]) == (True, "ww-brand-real")
    assert not LiveCode.objects.exists() and not CustomerGroup.objects.exists()
