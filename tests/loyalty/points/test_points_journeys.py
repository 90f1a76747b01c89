"""The points a journey step hands over (Handoff rows of kind award_points) become ledger entries once,
through the journey tick or the journey_points job."""

from django.utils import timezone

from siyu.core.jobs import job_runner
from siyu.engagement.journeys.actions import award_points_from_handoffs
from siyu.engagement.journeys.models import Handoff
from siyu.loyalty.points import queries
from siyu.loyalty.points.models import PointsEntry


def _handoff(key, cid, points, reason="旅程奖励"):
    return Handoff.objects.create(idempotency_key=key, kind=Handoff.Kind.AWARD_POINTS, customer_id=cid,
                                  payload={"points": points, "reason": reason}, created_at=timezone.now())  # fmt: skip


def test_journey_handoffs_become_entries_once(db):
    _handoff("journey:1:10:s2", 1, 50)
    _handoff("journey:1:11:s2", 2, 50)
    Handoff.objects.create(idempotency_key="journey:1:10:s3", kind=Handoff.Kind.GUIDE_TASK, customer_id=1,
                           payload={"title": "回访"}, created_at=timezone.now())  # fmt: skip
    assert award_points_from_handoffs() == 2
    assert award_points_from_handoffs() == 0
    assert queries.balance_of(1).available == 50
    entry = PointsEntry.objects.get(key="journey:1:10:s2")
    assert (entry.source, entry.reason) == ("journey", "旅程奖励")
    assert not Handoff.objects.filter(kind=Handoff.Kind.AWARD_POINTS, consumed_at__isnull=True).exists()
    # a hand-off marked unconsumed again (a crash after the award) is not awarded twice
    Handoff.objects.filter(idempotency_key="journey:1:10:s2").update(consumed_at=None)
    assert job_runner("journey_points")(None, None) == {"handoffs_awarded": 1}
    assert queries.balance_of(1).available == 50
