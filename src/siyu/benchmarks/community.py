"""`siyu bench community --groups 10000 --members 1000000`: the customer-group sync against the fake WeCom
(over local HTTP, the company's 10,000 calls a minute enforced by the fake and kept by the client's call
limiter) and the group health page's queries, in a child process with a fresh SIYU_HOME of its own
(SIYU_HOME/bench/community-home).

Measured, in one run: (1) the first sync — groupchat/list pages and one groupchat/get per group, every
stay written, members linked to customers, the warehouse table group_members written; the API calls made
and the limit errors (45009) WeCom answered, which must be 0; (2) a re-sync of unchanged groups (reads
everything again, writes nothing); (3) the health page's queries (size, leave rates per type and per
group, early leavers, member GMV against 1 order per customer on average, the duplicate pairs the sync
flagged) — target < 1 s.

Synthetic base: 100 staff owners; group sizes drawn between 20 and 199 around members/groups; 60% of the
external members are known customers (a WeCom contact record); one member in ten sits in a second group of
the same owner (duplicates); 5% of stays ended within a week (as if found by earlier syncs).
"""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

from siyu.benchmarks.common import child_main, machine, run_child

OWNERS = 100


def run(people: int | None = None, groups: int = 10_000, members: int = 1_000_000) -> dict:
    """`people` is the bench command's common argument; this benchmark sizes by groups and members."""
    from django.conf import settings

    home = Path(settings.SIYU_HOME) / "bench" / "community-home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    result = run_child("siyu.benchmarks.community", {"groups": groups, "members": members},
                       env={"SIYU_HOME": str(home), "SIYU_WAREHOUSE": ""})  # fmt: skip
    return {"benchmark": "community", "groups": groups, "members": members, "machine": machine(), **result}


def _counting_fake():
    from siyu.engagement.messaging.fakes.wecom import FakeWeCom

    class CountingWeCom(FakeWeCom):
        """The fake WeCom, counting the company-limit refusals it gives (45009)."""

        limit_errors = 0

        def answer(self, request):
            status, headers, body = super().answer(request)
            if isinstance(body, dict) and body.get("errcode") == 45009:
                self.limit_errors += 1
            return status, headers, body

    return CountingWeCom(api_calls_per_minute=10_000)


def _fill(fake, groups: int, members: int) -> int:
    rng = random.Random(7)
    mean = max(members // max(groups, 1), 2)
    base = int(time.time()) - 60 * 86400  # joins spread over the last 60 days
    made, person = 0, 0
    for g in range(groups):
        owner = f"owner{g % OWNERS:03d}"
        size = min(max(int(rng.gauss(mean, mean / 4)), 2), 199)
        chat = fake.make_group(owner, f"福利群{g}", create_time=base)
        group = fake.groups[chat]
        for _ in range(size - 1):
            if person and rng.random() < 0.1:  # someone already in another group of the company
                member = f"wm{rng.randrange(person):08d}"
                if member in group["members"]:
                    continue
            else:
                member, person = f"wm{person:08d}", person + 1
            # direct state: the helpers' callback XML is not needed for a base this size
            group["members"][member] = {"userid": member, "type": 2, "join_time": base + (made * 7_919) % (59 * 86400), "join_scene": 3,
                                        "invitor": None, "group_nickname": "", "name": member, "unionid": "",
                                        "state": ""}  # fmt: skip
            made += 1
    return person


def _customers_and_orders(people: int) -> None:
    from siyu import warehouse

    with warehouse.transaction() as con:
        con.execute(f"""INSERT INTO customer_map SELECT 'wecom|wm' || lpad(CAST(i AS VARCHAR), 8, '0'), i + 1, now()
                        FROM range({people}) t(i) WHERE i % 10 < 6""")
        con.execute(f"""INSERT INTO customer_map SELECT 'shop|' || CAST(i AS VARCHAR), {people} + i + 1, now()
                        FROM range({people // 2}) t(i)""")
        con.execute("INSERT INTO customer_summary (customer_id) SELECT DISTINCT customer_id FROM customer_map")
        con.execute(f"""INSERT INTO customer_orders (customer_id, order_key, source, status_class, order_time, amount)
                        SELECT ids[1 + (i * 7919) % len(ids)], 'o' || CAST(i AS VARCHAR), 'shop',
                               CASE WHEN i % 10 = 0 THEN 'not_purchase' ELSE 'purchase' END,
                               now() - to_days(CAST(i % 60 AS INTEGER)), CAST(50 + i % 300 AS DECIMAL(18, 2))
                        FROM range({people}) t(i), (SELECT list(customer_id) AS ids FROM customer_summary)""")  # fmt: skip


def _timed(fn):
    started = time.perf_counter()
    result = fn()
    return round(time.perf_counter() - started, 3), result


def _measure(groups: int, members: int) -> dict:
    import datetime as dt

    from django.core.management import call_command
    from django.utils import timezone

    from siyu.community.groups import queries
    from siyu.community.groups.actions import mirror_groups, sync_groups
    from siyu.community.groups.models import GroupMember
    from siyu.engagement.messaging.actions import configure_account

    call_command("migrate", interactive=False, verbosity=0)
    fake = _counting_fake()
    setup_s, people = _timed(lambda: _fill(fake, groups, members))
    _customers_and_orders(people)
    with fake:
        configure_account(None, "wecom", "wecom", {"corp_id": fake.corp_id, "base_url": fake.url},
                          {"contact_secret": "contact-secret"})  # fmt: skip
        first_s, first = _timed(sync_groups)
        calls_first = len(fake.requests)
        again_s, again = _timed(sync_groups)
    # 5% of stays ended within a week of joining, as earlier syncs would have found
    early = list(GroupMember.objects.filter(is_staff=False).order_by("pk").values_list("pk", "joined_at"))[::20]
    ended = [GroupMember(pk=pk, left_at=(joined or timezone.now()) + dt.timedelta(days=3), quit_scene=0)
             for pk, joined in early]  # fmt: skip
    GroupMember.objects.bulk_update(ended, ["left_at", "quit_scene"], batch_size=2_000)
    mirror_groups(list(GroupMember.objects.values_list("group_id", flat=True).distinct()))
    queries.group_health()  # the first query of a process opens the warehouse: not the page's time
    health_s, health = _timed(queries.group_health)
    parts = {name: _timed(fn)[0] for name, fn in {
        "size": queries.size_over_time, "leave_rates_by_type": lambda: queries.leave_rates(by="type"),
        "leave_rates_by_group": queries.leave_rates, "early_leavers": queries.early_leavers,
        "member_gmv": queries.member_gmv,
        "duplicate_groups (at sync, not on the page)": queries.duplicate_groups,
    }.items()}  # fmt: skip
    return {
        "fake_setup_seconds": setup_s,
        "customers_in_groups": people,
        "stays": first["joins"],
        "first_sync_seconds": first_s,
        "first_sync_groups": first["groups"],
        "first_sync_api_calls": calls_first,
        # the reference: the fastest any client may sync, at WeCom's 10,000 calls a minute per company
        "wecom_limit_floor_seconds": round(calls_first / 10_000 * 60, 1),
        "limit_errors_both_syncs": fake.limit_errors,
        "first_sync_rate_limit_wait_seconds": first.get("rate_limit_wait_seconds"),
        "first_sync_warehouse_rows": first["warehouse_rows"],
        "resync_unchanged_seconds": again_s,
        "resync_unchanged_written": again["joins"] + again["leaves"] + again["warehouse_rows"],
        "health_seconds": health_s,
        "health_query_seconds": parts,
        "duplicate_pairs_flagged": first["duplicate_pairs"],
    }


if __name__ == "__main__":
    child_main(_measure)
