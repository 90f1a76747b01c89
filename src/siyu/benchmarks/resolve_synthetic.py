"""Timing of identity resolution on a synthetic warehouse (not a test; wire into `siyu bench resolve`).

    python -m siyu.benchmarks.resolve_synthetic [--records 5000000] [--home DIR] [--keep]

Generates the synthetic warehouse in one process, then resolves in a fresh process each: a first run, a
re-run on unchanged data, and a run after --grow new records that each bridge two existing customers
(merges); prints wall and CPU seconds, per-step timings and peak RSS per run.

Synthetic data: people = records / 5 (--people to change); each record belongs to a pseudo-random person and one of five
sources (tmall orders with taobao_buyer, jd orders with jd_account, youzan orders with a custom youzan_buyer id,
wecom contacts with external_userid and unionid for half, pos members with member_no); 60 % of records carry the person's full
phone, 10 % a weak masked phone; 200 store landlines sit on 20 pos members each (the guard must catch
them); every order record has one order.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

GENERATE_SQL = """
CREATE OR REPLACE TEMP TABLE gen AS
SELECT i,
       hash(i, 'person') % {people} AS person,
       ['tmall', 'jd', 'youzan', 'wecom', 'pos'][1 + i % 5] AS source,
       hash(i, 'phone') % 10 AS phone_roll,
       TIMESTAMPTZ '2020-01-01 00:00:00+00' + to_seconds((hash(i, 'seen') % 157680000)::BIGINT) AS seen_at
FROM range({records}) t(i);

INSERT INTO records (record_key, source, format, record_kind, record_id, name_hash, name_masked, phone_hash,
                     phone_masked, phone_tail, phone_kind, gender, province, city, tags, owner_staff, seen_at,
                     imported_at)
SELECT source || '|' || i, source, source,
       CASE source WHEN 'wecom' THEN 'contact' WHEN 'pos' THEN 'member' ELSE 'order' END,
       i::VARCHAR, md5('n' || person), '张*',
       CASE WHEN phone_roll < 6 THEN md5('p' || person) END,
       CASE WHEN phone_roll < 7 THEN '138****' || lpad((person % 10000)::VARCHAR, 4, '0') END,
       CASE WHEN phone_roll < 7 THEN lpad((person % 10000)::VARCHAR, 4, '0') END,
       CASE WHEN phone_roll < 6 THEN 'mobile' WHEN phone_roll < 7 THEN 'masked' END,
       CASE WHEN person % 3 = 0 THEN 'female' WHEN person % 3 = 1 THEN 'male' END,
       '浙江省', '杭州市',
       CASE WHEN i % 7 = 0 THEN ['vip', 'tag' || (i % 13)] END,
       CASE WHEN source = 'wecom' THEN 'guide' || (person % 50) END,
       seen_at, now()
FROM gen;

INSERT INTO identifiers
SELECT source || '|' || i, source, 'phone', md5('p' || person), true FROM gen WHERE phone_roll < 6
UNION ALL
SELECT source || '|' || i, source, 'masked_phone', md5('m' || person), false FROM gen WHERE phone_roll = 6
UNION ALL
SELECT source || '|' || i, source,
       CASE source WHEN 'tmall' THEN 'taobao_buyer' WHEN 'jd' THEN 'jd_account'
                   WHEN 'wecom' THEN 'external_userid' WHEN 'pos' THEN 'member_no' ELSE 'youzan_buyer' END,
       md5(source || person), true
FROM gen
UNION ALL
SELECT source || '|' || i, source, 'unionid', md5('u' || person), true FROM gen WHERE source = 'wecom' AND person % 2 = 0;

INSERT INTO records (record_key, source, format, record_kind, record_id, name_hash, seen_at)
SELECT 'pos|L' || i, 'pos', 'pos', 'member', 'L' || i, md5('landline-member' || i), TIMESTAMPTZ '2021-06-01 00:00:00+00'
FROM range(4000) t(i);
INSERT INTO identifiers
SELECT 'pos|L' || i, 'pos', 'phone', md5('landline' || (i % 200)), true FROM range(4000) t(i);

INSERT INTO orders (order_key, source, format, order_id, record_key, status_class, order_time, amount)
SELECT source || '|' || i, source, source, i::VARCHAR, source || '|' || i,
       CASE WHEN i % 10 = 0 THEN 'not_purchase' ELSE 'purchase' END,
       seen_at, ((hash(i, 'amount') % 100000) / 100.0)::DECIMAL(18, 2)
FROM gen WHERE source IN ('tmall', 'jd', 'youzan');
"""


GROW_SQL = """
CREATE OR REPLACE TEMP TABLE grow AS
SELECT i, hash(i, 'grow') % {people} AS person FROM range({new}) t(i);
INSERT INTO records (record_key, source, format, record_kind, record_id, name_hash, seen_at, imported_at)
SELECT 'youzan|G' || i, 'youzan', 'youzan', 'order', 'G' || i, md5('n' || person), now(), now() FROM grow;
INSERT INTO identifiers
SELECT 'youzan|G' || i, 'youzan', 'phone', md5('p' || person), true FROM grow
UNION ALL  -- each new order also carries the buyer id of the next person: it bridges two customers
SELECT 'youzan|G' || i, 'youzan', 'youzan_buyer', md5('youzan' || ((person + 1) % {people})), true FROM grow;
"""


def grow(home: str, new: int, people: int) -> dict:
    """Append `new` order records that each bridge two existing people."""
    _setup_django(home)
    from siyu.warehouse import raw_connection

    raw_connection().execute(GROW_SQL.format(new=new, people=people))
    return {"new_records": new}


def _setup_django(home: str) -> None:
    os.environ["SIYU_HOME"] = home
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.project.settings")
    import django

    django.setup()


def generate(home: str, records: int, people: int) -> dict:
    _setup_django(home)
    from siyu.warehouse import raw_connection

    con = raw_connection()
    started = time.monotonic()
    con.execute(GENERATE_SQL.format(records=records, people=people))
    counts = {
        table: con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        for table in ("records", "identifiers", "orders")
    }
    counts["strong_identifiers"] = con.execute("SELECT count(*) FROM identifiers WHERE strong").fetchall()[0][
        0
    ]
    counts["generate_seconds"] = round(time.monotonic() - started, 1)
    con.execute("CHECKPOINT")
    return counts


def resolve(home: str) -> dict:
    _setup_django(home)
    from siyu.identity.actions import resolve_identities

    report = resolve_identities().as_dict()
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return report


def _child(phase: str, home: str, records: int, people: int, *extra: str) -> dict:
    command = [sys.executable, "-m", "siyu.benchmarks.resolve_synthetic", "--phase", phase, "--home", home]
    out = subprocess.run(
        [*command, "--records", str(records), "--people", str(people), *extra],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5_000_000)
    parser.add_argument("--people", type=int, help="default: records / 5")
    parser.add_argument("--home")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--grow", type=int, default=50_000, help="bridging records added before a third run")
    parser.add_argument("--phase", choices=["generate", "resolve", "grow"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    people = args.people or max(args.records // 5, 1)
    if args.phase == "generate":
        print(json.dumps(generate(args.home, args.records, people)))
        return 0
    if args.phase == "grow":
        print(json.dumps(grow(args.home, args.grow, people)))
        return 0
    if args.phase == "resolve":
        print(json.dumps(resolve(args.home), default=str))
        return 0
    home = args.home or tempfile.mkdtemp(prefix="siyu-bench-resolve-")
    try:
        print("data:", json.dumps(_child("generate", home, args.records, people)))
        print("first run:", json.dumps(_child("resolve", home, args.records, people)))
        print("re-run:", json.dumps(_child("resolve", home, args.records, people)))
        if args.grow:
            _child("grow", home, args.records, people, "--grow", str(args.grow))
            print(
                f"after {args.grow} bridging records:",
                json.dumps(_child("resolve", home, args.records, people)),
            )
    finally:
        if not args.keep and not args.home:
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
