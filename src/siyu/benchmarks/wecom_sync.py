"""`siyu bench wecom_sync --people N`: the WeCom external-contact sync of N contacts against the fake WeCom
(siyu.engagement.messaging.fakes, over local HTTP), in a child process with a fresh SIYU_HOME of its own
(SIYU_HOME/bench/wecom-sync-home).

Measured, in one run: (1) the first sync — reading every contact (batch/get_by_user, 100 a page, tokens and
the company's call limiter included), writing them as one batch through the importer's path, resolving
identities and bringing owners and tags into the customers app; (2) a re-sync of unchanged data (reads
everything again, writes nothing); (3) a re-sync after 5% of the contacts changed owner or tags in WeCom;
(4) the reference: importing the same contacts as WeCom's own customer export (CSV, `siyu import
--format wecom`) under another source, then resolving.

Synthetic base: 50 staff members; 10% of contacts follow a second staff member; 30% carry one of six
corporate tags; 40% have a unionid, half of them shared with a member record imported beforehand.
"""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

from siyu.benchmarks.common import child_main, machine, run_child

STAFF = 50


def run(people: int) -> dict:
    from django.conf import settings

    home = Path(settings.SIYU_HOME) / "bench" / "wecom-sync-home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    result = run_child(
        "siyu.benchmarks.wecom_sync", {"people": people}, env={"SIYU_HOME": str(home), "SIYU_WAREHOUSE": ""}
    )
    return {"benchmark": "wecom_sync", "people": people, "machine": machine(), **result}


def _fake(people: int):
    import random

    from siyu.engagement.messaging.fakes.wecom import FakeWeCom

    rng = random.Random(7)
    fake = FakeWeCom(api_calls_per_minute=10_000)
    tags = {f"tag-{i}": name for i, name in enumerate(["VIP", "普通", "新客", "护肤", "彩妆", "母婴"])}
    fake.add_tag_group("客户", tags)
    base = 1_700_000_000
    for i in range(people):
        staff = f"staff{i % STAFF:02d}"
        unionid = f"union-{i}" if i % 10 < 4 else ""
        chosen = [f"tag-{rng.randrange(6)}"] if rng.random() < 0.3 else []
        fake.add_contact(staff, f"wm{i:08d}", f"客户{i}", unionid=unionid, tags=chosen, createtime=base + i,
                         gender=1 + i % 2)  # fmt: skip
        if i % 10 == 0:
            fake.add_contact(f"staff{(i + 1) % STAFF:02d}", f"wm{i:08d}", f"客户{i}", unionid=unionid,
                             createtime=base + people + i)  # fmt: skip
    return fake


def _members(people: int, folder: Path) -> Path:
    """Members whose unionid half of the WeCom contacts with one share (identity links them)."""
    path = folder / "members.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["会员号", "unionid"])
        for i in range(0, people, 20):
            writer.writerow([f"M{i}", f"union-{i}"])
    return path


def _export(fake, folder: Path) -> Path:
    """The same contacts as WeCom's own customer export (the reference's input)."""
    from siyu.engagement.messaging.channel_actions import EXPORT_COLUMNS, contact_rows

    labels = {t["id"]: f"{g['group_name']}:{t['name']}" for g in fake.tag_groups for t in g["tag"]}
    items = []
    for staff in sorted(fake.members):
        for ext in fake.contacts[staff]:
            follow = fake.follow(staff, ext)
            items.append({"external_contact": fake.details[ext]["external_contact"],
                          "follow_info": {"userid": staff, "remark": follow["remark"],
                                          "createtime": follow["createtime"],
                                          "tag_id": [t["tag_id"] for t in follow["tags"]]}})  # fmt: skip
    path = folder / "wecom_export.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        writer.writerows(contact_rows(items, labels))
    return path


def _timed(fn):
    started = time.perf_counter()
    result = fn()
    return round(time.perf_counter() - started, 3), result


def _measure(people: int) -> dict:
    from django.conf import settings
    from django.core.management import call_command

    from siyu.engagement.messaging.actions import configure_account
    from siyu.identity.actions import resolve_identities
    from siyu.ingest.actions import import_files
    from siyu.pipeline.after_records import sync_wecom_contacts
    from siyu.staff.actions import create_user

    call_command("migrate", interactive=False, verbosity=0)
    folder = Path(settings.SIYU_HOME) / "inputs"
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(STAFF):
        create_user(f"guide{n:02d}", "bench-pass-2026", "guide", wecom_userid=f"staff{n:02d}")
    import_files([_members(people, folder)], source="mini", format="generic",
                 mapping={"会员号": "record_id", "unionid": "id:unionid"})  # fmt: skip
    resolve_identities()
    setup_seconds, fake = _timed(lambda: _fake(people))
    with fake:
        configure_account(None, "wecom", "wecom", {"corp_id": fake.corp_id, "base_url": fake.url},
                          {"contact_secret": "contact-secret"})  # fmt: skip
        first_s, first = _timed(sync_wecom_contacts)
        requests_first = len(fake.requests)
        again_s, again = _timed(sync_wecom_contacts)
        rng_changed = 0
        for i in range(0, people, 20):  # 5%: a new tag on the owner's relation
            ext = f"wm{i:08d}"
            staff = f"staff{i % STAFF:02d}"
            fake.follow(staff, ext)["tags"] = [{"tag_id": "tag-5", "type": 1}]
            rng_changed += 1
        changed_s, changed = _timed(sync_wecom_contacts)
        export = _export(fake, folder)
    reference_import_s, imported = _timed(
        lambda: import_files([export], source="wecom_export", format="wecom")
    )
    reference_resolve_s, _ = _timed(resolve_identities)
    return {
        "contacts": first["contacts"],
        "relations": first["relations"],
        "fake_setup_seconds": setup_seconds,
        "first_sync_seconds": first_s,
        "first_sync_contacts_per_s": round(first["contacts"] / first_s),
        "first_sync_api_calls": requests_first,
        "first_sync_records_new": first["records_new"],
        "first_sync_new_customers": (first.get("resolve") or {}).get("new_customers"),
        "resync_unchanged_seconds": again_s,
        "resync_unchanged_written": again["records_new"] + again["records_changed"] + again["imported"],
        "resync_changed_seconds": changed_s,
        "resync_changed_records": changed["records_changed"],
        "contacts_changed_in_wecom": rng_changed,
        "reference_export_import_seconds": reference_import_s,
        "reference_export_resolve_seconds": reference_resolve_s,
        "reference_export_rows": imported.totals()["imported"],
        "ratio_first_sync_vs_export_import_and_resolve": round(
            first_s / (reference_import_s + reference_resolve_s), 2
        ),
    }


if __name__ == "__main__":
    child_main(_measure)
