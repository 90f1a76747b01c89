"""Time the loyalty mirror at scale (not collected by pytest): 100k members, ~1M points entries over 500k lots,
200k coupons, 300k check-ins, 100k tier changes; a first run (nothing mirrored yet) and a run after 1,000
new entries and 500 coupons used.

    SIYU_HOME=/tmp/mirrorbench PYTHONPATH=src python tests/loyalty/mirror/bench_mirror.py [members]
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.project.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

MEMBERS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
NOW = timezone.now()
DAY = dt.timedelta(days=1)


def build() -> None:
    import pyarrow as pa

    from siyu.loyalty.checkin.models import Checkin
    from siyu.loyalty.coupons.models import Coupon, CouponTemplate
    from siyu.loyalty.points.models import PointsEntry, PointsLot
    from siyu.loyalty.tiers.models import MemberTier, Tier, TierChange
    from siyu.warehouse.append import append
    from siyu.warehouse.connection import backend, transaction

    call_command("migrate", verbosity=0)
    if not PointsLot.objects.exists():
        build_control_plane(PointsLot, PointsEntry, Coupon, CouponTemplate, Checkin, MemberTier, Tier, TierChange)
    con = backend()
    if con.table("customer_map").count().to_pyarrow().as_py() == 0:
        ids = pa.array(range(1, MEMBERS + 1), pa.int64())
        with transaction() as con:
            append(con, "customer_map", pa.table({
                "record_key": pa.array([f"member|m{i}" for i in range(1, MEMBERS + 1)]), "customer_id": ids,
                "resolved_at": pa.array([NOW] * MEMBERS, pa.timestamp("us", tz="UTC"))}))  # fmt: skip
    print(f"built: {PointsEntry.objects.count()} entries, {PointsLot.objects.count()} lots, "
          f"{Coupon.objects.count()} coupons, {Checkin.objects.count()} check-ins")  # fmt: skip


def build_control_plane(PointsLot, PointsEntry, Coupon, CouponTemplate, Checkin, MemberTier, Tier, TierChange):  # noqa: N803
    tiers = [Tier.objects.create(name=f"T{r}", rank=r, threshold=r * 100) for r in (1, 2, 3)]
    templates = [CouponTemplate.objects.create(name=f"C{i}", kind="amount", amount_off=10) for i in range(5)]
    lots, entries, coupons, checkins, members, changes = [], [], [], [], [], []
    for cid in range(1, MEMBERS + 1):
        for n in range(5):
            at = NOW - (n * 30 + cid % 30) * DAY
            lots.append(PointsLot(key=f"l{cid}:{n}", customer_id=cid, points=100, remaining=100 - 10 * n,
                                  source="order", created_at=at, available_at=at, expires_at=at + 365 * DAY))  # fmt: skip
        for n in range(2):
            coupons.append(Coupon(code=f"K{cid:09d}{n}", template=templates[(cid + n) % 5], customer_id=cid,
                                  status=("issued", "used", "expired", "void")[(cid + n) % 4],
                                  issued_at=NOW - 10 * DAY, expires_at=NOW + 20 * DAY, source="segment",
                                  idempotency_key=f"k{cid}:{n}"))  # fmt: skip
        for n in range(3):
            checkins.append(Checkin(customer_id=cid, day=(NOW - (n + cid % 5) * DAY).date(), streak=3 - n))
        members.append(MemberTier(customer_id=cid, tier=tiers[cid % 3], since=NOW - 100 * DAY))
        changes.append(TierChange(customer_id=cid, kind="upgrade", to_tier=tiers[cid % 3], changed_at=NOW - 100 * DAY))
    PointsLot.objects.bulk_create(lots, batch_size=5000)
    lot_ids = list(PointsLot.objects.order_by("id").values_list("id", "customer_id", "created_at"))
    for lot_id, cid, at in lot_ids:
        entries.append(PointsEntry(key=f"e{lot_id}", customer_id=cid, lot_id=lot_id, points=100, account="issued",
                                   source="order", created_at=at))  # fmt: skip
        entries.append(PointsEntry(key=f"s{lot_id}", customer_id=cid, lot_id=lot_id, points=-10, account="redeemed",
                                   source="mall", created_at=at + DAY))  # fmt: skip
    PointsEntry.objects.bulk_create(entries, batch_size=5000)
    Coupon.objects.bulk_create(coupons, batch_size=5000)
    Checkin.objects.bulk_create(checkins, batch_size=5000)
    MemberTier.objects.bulk_create(members, batch_size=5000)
    TierChange.objects.bulk_create(changes, batch_size=5000)


def more() -> None:
    from siyu.loyalty.coupons.models import Coupon
    from siyu.loyalty.points.models import PointsEntry, PointsLot

    lots = list(PointsLot.objects.order_by("-id")[:1000].values_list("id", "customer_id"))
    stamp = int(time.time())
    PointsEntry.objects.bulk_create([PointsEntry(key=f"x{stamp}:{i}", customer_id=c, lot_id=i, points=-1,
                                                 account="redeemed", source="mall", created_at=NOW)
                                     for i, c in lots])  # fmt: skip
    fields = {"status": "used", "used_at": NOW - 30 * DAY}
    if hasattr(Coupon, "changed_at"):
        fields["changed_at"] = timezone.now()
    ids = list(Coupon.objects.filter(status="issued").values_list("id", flat=True)[:500])
    Coupon.objects.filter(id__in=ids).update(**fields)


def main() -> None:
    from siyu.loyalty import mirror

    build()
    for name in ("first run", "again, nothing new", "after 1,000 entries and 500 coupons used"):
        if name.startswith("after"):
            more()
        start = time.perf_counter()
        report = mirror.mirror_loyalty()
        print(f"{name}: {time.perf_counter() - start:.1f} s {report}")
    start = time.perf_counter()
    if hasattr(mirror, "member_table"):
        rows = mirror.member_table(timezone.now())
    else:
        rows = mirror.member_rows(timezone.now())
    print(f"members' state: {time.perf_counter() - start:.1f} s ({len(rows)})")
    start = time.perf_counter()
    rows = mirror.coupon_table() if hasattr(mirror, "coupon_table") else mirror.coupon_rows()
    print(f"coupons' state: {time.perf_counter() - start:.1f} s ({len(rows)})")


if __name__ == "__main__":
    main()
