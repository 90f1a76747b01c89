"""Property tests of the contact policy (hypothesis): whatever sequence of triggers, consent changes and
worker runs happens, no cap is exceeded, nothing marketing goes out inside quiet hours, and nobody who
has opted out is reached."""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from zoneinfo import ZoneInfo

import pytest
from engagement_helpers import NOON
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siyu.customers.models import Consent
from siyu.engagement.messaging import queries
from siyu.engagement.messaging.actions import deliver_due_sends, enqueue_sends, update_policy
from siyu.engagement.messaging.channels.base import ChannelAdapter, sent
from siyu.engagement.messaging.models import ContactPolicy, Send
from siyu.engagement.messaging.policy import COUNTED, SendRequest

pytestmark = pytest.mark.django_db
LOCAL = ZoneInfo("Asia/Shanghai")
CHANNELS = ("wecom", "sms", "email", "webhook")
CUSTOMERS = (1, 2, 3)
# minutes after NOON (10:00 local): three weeks, at any time of day (sampled, so that small offsets, all
# in office hours, are not favoured the way integers are)
moment = st.builds(
    lambda day, minute: day * 1440 + minute, st.integers(0, 20), st.sampled_from(range(0, 1440, 10))
)

trigger = st.tuples(
    st.just("send"),
    moment,
    st.sampled_from(CUSTOMERS),
    st.sampled_from(CHANNELS),
    st.integers(0, 3),  # priority
    st.booleans(),  # marketing
)
consent = st.tuples(
    st.just("consent"), moment, st.sampled_from(CUSTOMERS),
    st.sampled_from(("wecom", "sms", "email", "all")), st.sampled_from(("opt_in", "opt_out")),
)  # fmt: skip
worker = st.tuples(st.just("deliver"), moment)
policy = st.fixed_dictionaries(
    {
        "marketing_cap": st.integers(1, 3),
        "marketing_cap_days": st.integers(1, 7),
        "wecom_one_per_day": st.booleans(),
        "quiet_start": st.sampled_from(["21:00", "22:30", "00:00", "13:00"]),
        "quiet_end": st.sampled_from(["09:00", "07:00", "14:00"]),
        "holdout_percent": st.sampled_from([0, 5, 30]),
        "channel_caps": st.sampled_from([{}, {"sms": [1, 3]}, {"wecom": [1, 2], "email": [0, 1]}]),
    }
)


class Recording(ChannelAdapter):
    """Accepts every message, remembering when it went out."""

    log: list[tuple[int, dt.datetime]] = []
    clock: dt.datetime = NOON

    def deliver_one(self, message):
        Recording.log.append((message.send_id, Recording.clock))
        return sent()


def quiet(rules: ContactPolicy, at: dt.datetime) -> bool:
    start, end = rules.quiet_start, rules.quiet_end
    t = at.astimezone(LOCAL).time()
    if start == end:
        return False
    return (t >= start or t < end) if start > end else (start <= t < end)


def opted_out_at(customer: int, channel: str, at: dt.datetime) -> bool:
    latest = (
        Consent.objects.filter(customer_id=customer, channel__in=[channel, "all"], recorded_at__lte=at)
        .order_by("-recorded_at", "-pk")
        .first()
    )
    return latest is not None and latest.status == "opt_out"


@settings(
    max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
)
@given(rules=policy, events=st.lists(st.one_of(trigger, worker, trigger, consent), min_size=10, max_size=50))
def test_no_sequence_of_triggers_breaks_the_policy(customers, monkeypatch, rules, events):
    Send.objects.all().delete()
    Consent.objects.all().delete()
    ContactPolicy.objects.all().delete()
    update_policy(None, **rules)
    monkeypatch.setattr(queries, "adapter_for", lambda channel: Recording({}, {}))
    monkeypatch.setattr(queries, "addresses_for", lambda ids, kind: {})
    monkeypatch.setattr(Recording, "address_kind", "customer")
    Recording.log = []
    # at one moment: consent first, then sends, then the worker
    kinds = {"consent": 0, "send": 1, "deliver": 2}
    for number, event in enumerate(sorted(events, key=lambda e: (e[1], kinds[e[0]]))):
        at = NOON + dt.timedelta(minutes=event[1])
        if event[0] == "send":
            _, _, customer, channel, priority, marketing = event
            enqueue_sends(
                [
                    SendRequest(
                        f"e{number}", channel, customer_id=customer, priority=priority, marketing=marketing
                    )
                ],
                now=at,
            )
        elif event[0] == "consent":
            _, _, customer, channel, status = event
            Consent.objects.create(
                customer_id=customer, channel=channel, status=status, source="test", recorded_at=at
            )
        else:
            Recording.clock = at
            deliver_due_sends(now=at)

    policy = ContactPolicy.objects.get(pk=1)
    window = dt.timedelta(days=policy.marketing_cap_days)
    counted = list(Send.objects.filter(status__in=COUNTED))
    # 1. caps hold on every window of every customer
    by_customer = defaultdict(list)
    for send in counted:
        by_customer[send.customer_id].append(send)
    for sends in by_customer.values():
        marketing = sorted(s.scheduled_at for s in sends if s.marketing)
        for slot in marketing:
            assert sum(slot <= other < slot + window for other in marketing) <= policy.marketing_cap
        for channel, (limit, days) in policy.channel_caps.items():
            slots = sorted(s.scheduled_at for s in sends if s.marketing and s.channel == channel)
            for slot in slots:
                assert sum(slot <= other < slot + dt.timedelta(days=days) for other in slots) <= limit
        wecom = [s.scheduled_at.astimezone(LOCAL) for s in sends if s.channel == "wecom"]
        per_day = defaultdict(int)
        per_month = defaultdict(int)
        for slot in wecom:
            per_day[slot.date()] += 1
            per_month[(slot.year, slot.month)] += 1
        if policy.wecom_one_per_day:
            assert max(per_day.values(), default=0) <= 1
        for (year, month), n in per_month.items():
            assert n <= calendar.monthrange(year, month)[1]
    # 2. and 3.: what went out
    sends = {s.pk: s for s in Send.objects.all()}
    for send_id, when in Recording.log:
        send = sends[send_id]
        assert send.status == "sent"
        if send.marketing:
            assert not quiet(policy, when), f"marketing send {send_id} went out at {when} in quiet hours"
            assert not quiet(policy, send.scheduled_at)
        assert not opted_out_at(send.customer_id, send.channel, when), (
            f"send {send_id} reached an opted-out customer"
        )
    assert len(Recording.log) == len({s for s, _ in Recording.log})  # nothing twice
