"""`siyu sync wecom [--json]`: read every WeCom external contact into the warehouse, then every customer
group (in-process, or inside `siyu serve` when it owns the warehouse)."""

import json

from django.core.management.base import BaseCommand

from siyu.core.progress import exit_unless_done, run_with_progress


class Command(BaseCommand):
    help = (
        "Sync WeCom external contacts: every staff member's customers (batch/get_by_user), their unionid and "
        "external_userid as identifiers, the corporate tags, and each customer's owner guide; then resolve "
        "identities; then the customer groups (groupchat/list and groupchat/get: members, joins and leaves). "
        "A re-sync of unchanged data writes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("what", choices=["wecom"], help="what to sync (wecom: WeCom external contacts, then customer groups)")
        parser.add_argument("--json", action="store_true", help="print the report as one JSON object")

    def handle(self, *args, what: str, **options):
        job = run_with_progress("wecom_sync", {})
        exit_unless_done(job, "sync wecom", self.stderr)
        report = job.result
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False, sort_keys=True, default=str))
            return
        self.stdout.write(
            f"Synced {report['contacts']:,} WeCom contacts ({report['relations']:,} staff relations, "
            f"{report['staff_members']:,} staff members, {report['corp_tags']:,} corporate tags): "
            f"{report['records_new']:,} new, {report['records_changed']:,} with a new owner or tags, "
            f"{report.get('tags_removed', 0):,} tags taken off."
        )
        if report.get("rate_limit_wait_seconds"):
            self.stdout.write(f"Waited {report['rate_limit_wait_seconds']:.1f} s for WeCom's call limit.")
        resolved = report.get("resolve")
        if resolved:
            self.stdout.write(
                f"Resolved into {resolved['customers']:,} customers ({resolved['new_customers']:,} new, "
                f"{resolved['merges']:,} merged)."
            )
        groups = report.get("groups") or {}
        if groups.get("error"):
            self.stderr.write(f"Customer groups not synced: {groups['error']}")
        elif groups:
            self.stdout.write(
                f"Synced {groups['groups']:,} customer groups ({groups['groups_new']:,} new): {groups['joins']:,} "
                f"joins, {groups['leaves']:,} leaves, {groups['dismissed']:,} dismissed."
            )
