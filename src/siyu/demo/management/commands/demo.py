import datetime as dt
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from siyu.acquisition.models import LiveCode
from siyu.core.progress import run_with_progress
from siyu.demo.generate import generate_brand, load_manifest
from siyu.demo.growth import CORP_ID as DEMO_CORP_ID
from siyu.demo.growth import DemoWeCom, demo_today, read_wecom_contacts
from siyu.demo.loyalty import DemoLoyalty
from siyu.engagement.messaging.models import Channel
from siyu.engagement.messaging.queries import account_of
from siyu.members.links import sign_in_url
from siyu.staff.actions import create_user, ensure_store
from siyu.staff.models import Role


class Command(BaseCommand):
    help = (
        "Generate a demo brand (six channels, masked buyers, households, shared store phones, GBK and XLSX "
        "files), import it through the real importers, resolve identities, grow its pool (live codes, customer "
        "groups, a chat archive, a handover) against a local fake WeCom, and serve the console."
    )

    def add_arguments(self, parser):
        parser.add_argument("--people", type=int, default=20_000)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--no-serve", action="store_true", help="stop after importing and resolving")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, **options):
        out_dir = Path(settings.SIYU_HOME) / "demo" / f"people-{options['people']}-seed-{options['seed']}"
        manifest = load_manifest(out_dir) if (out_dir / "manifest.json").exists() else None
        if manifest is None:
            self.stdout.write(f"generating a demo brand of {options['people']:,} people in {out_dir} …")
            manifest = generate_brand(out_dir, people=options["people"], seed=options["seed"])
        password = self._ensure_accounts(manifest)
        admin = get_user_model().objects.get(username="admin")

        by_source: dict[tuple[str, str], list[str]] = {}
        for f in manifest.files:
            by_source.setdefault((f.source, f.format), []).append(str(f.path))
        # a brand that grew already (a second run over the same home) is not grown again, and a home whose
        # WeCom account is a real one keeps it untouched
        wecom = None
        account = account_of(Channel.WECOM)
        if account is not None and account.settings.get("corp_id") != DEMO_CORP_ID:
            self.stdout.write("  a WeCom account is configured: the demo's pool is not grown through a fake WeCom")
        elif not LiveCode.objects.exists():
            contacts = read_wecom_contacts([out_dir / p for (src, _), ps in by_source.items() if src == "wecom"
                                            for p in ps])  # fmt: skip
            wecom = DemoWeCom(admin, contacts, seed=options["seed"], today=demo_today(manifest.as_of),
                              people=options["people"])  # fmt: skip
        # the loyalty programme's rules before the resolve: its chain earns the imported orders' points
        loyalty = DemoLoyalty(admin, seed=options["seed"], out_dir=out_dir, today=dt.date.fromisoformat(manifest.as_of),
                              people=options["people"])  # fmt: skip
        if not loyalty.set_up_rules():
            loyalty = None
        try:
            # WeCom's export last: the add-contact callbacks of the 90 days come first, as they did in WeCom
            for (source, fmt), paths in sorted(by_source.items(), key=lambda item: item[0][0] == "wecom"):
                if source == "wecom" and wecom is not None:
                    self.stdout.write("  growing the pool through the demo's WeCom (a local fake used while generating) …")
                    wecom.start()
                    wecom.grow_codes()
                job = run_with_progress("import", {"paths": paths, "source": source, "format": fmt, "mapping": {}})
                if job.status != "done":
                    raise CommandError(f"importing {source}: {job.error}")
                r = job.result
                self.stdout.write(
                    f"  {source:<8} rows_read={r['rows_read']:>9,} imported={r['imported']:>9,} "
                    f"duplicates={r['duplicates']:>9,} rejected={r['rejected']:>6,}"
                )
            job = run_with_progress("resolve", {})
            if job.status != "done":
                raise CommandError(f"resolving identities: {job.error}")
            r = job.result
            self.stdout.write(
                f"  resolved {r.get('records', 0):,} records into {r.get('customers', 0):,} customers "
                f"({r.get('quarantined', 0)} identifiers quarantined; "
                f"{(r.get('review') or {}).get('waiting', 0):,} pairs of customers wait for review)"
            )
            if wecom is not None:
                wecom.grow_community(out_dir)
                wecom.stop()
                g = wecom.report
                self.stdout.write(
                    f"  live codes {g.codes}: {g.adds:,} adds in the last 90 days ({g.new_people:,} new people), "
                    f"{g.deletes:,} deleted within 30 days\n"
                    f"  customer groups {g.groups}: {g.joins:,} joins, {g.leaves:,} leaves "
                    f"({g.early_leaves:,} within 7 days of joining), {g.group_codes} group codes\n"
                    f"  chat archive: {g.messages:,} messages, {g.alerts} sensitive-word alerts; "
                    f"handover of a resigned guide: {g.handover_customers} customers, {g.handover_groups} groups\n"
                    f"  the demo's WeCom is a local fake used while generating: it has stopped, and the WeCom account "
                    f"is left disabled ({', '.join(f'{k} {v} s' for k, v in g.seconds.items())})"
                )
            if loyalty is not None:
                self.stdout.write("  setting up the loyalty programme (coupons, check-ins, mall, survey) …")
                self._write_loyalty(loyalty.grow(("pos", "pos") if ("pos", "pos") in by_source else None))
        finally:
            if wecom is not None and wecom.running:
                wecom.stop()
        guide = manifest.guides[0]["wecom_userid"] if manifest.guides else None
        self.stdout.write(self.style.SUCCESS(f"login: admin / {password}"))
        if guide:
            self.stdout.write(f"guides log in with their WeCom userid and the same password, e.g. {guide} / {password}")
        if loyalty is not None and loyalty.report.showcase_member is not None:
            link = sign_in_url(loyalty.report.showcase_member)
            self.stdout.write(f"the member centre as one of the demo's members (for 7 days): "
                              f"http://{options['host']}:{options['port']}{link}")
        if not options["no_serve"]:
            call_command("serve", host=options["host"], port=options["port"])

    def _write_loyalty(self, r) -> None:
        tiers = ", ".join(f"{name} {n:,}" for name, n in r.tiers.items())
        coupons = ", ".join(f"{k} {n:,}" for k, n in r.coupons.items())
        mall = ", ".join(f"{k} {n}" for k, n in r.mall.items())
        self.stdout.write(
            f"  loyalty: {r.members_with_points:,} members hold points ({r.points_outstanding:,} outstanding); "
            f"tiers {tiers} ({r.upgrade_coupons:,} upgrade coupons); {r.birthdays} birthday bonuses today\n"
            f"  coupons: {coupons}\n"
            f"  check-ins: {r.checkins:,} by {r.checkers} members (longest streak {r.longest_streak} days); "
            f"mall redemptions: {mall}\n"
            f"  survey: {r.responses} responses ({r.survey_points:,} points); {r.privacy_requests} privacy requests "
            f"({', '.join(f'{k} {v} s' for k, v in r.seconds.items())})"
        )

    def _ensure_accounts(self, manifest) -> str:
        """An admin (password kept in SIYU_HOME/secrets), the demo's stores and one account per guide."""

        secret = Path(settings.SECRETS_DIR) / "demo_admin_password"
        if not secret.exists():
            secret.write_text(secrets.token_urlsafe(9))
            secret.chmod(0o600)
        password = secret.read_text().strip()
        stores = {s["code"]: ensure_store(s["code"], s["name"], s.get("city", "")) for s in manifest.stores}
        User = get_user_model()
        if not User.objects.filter(username="admin").exists():
            create_user("admin", password, Role.ADMIN, display_name="管理员")
        for guide in manifest.guides:
            username = guide["wecom_userid"]
            if not User.objects.filter(username=username).exists():
                create_user(
                    username,
                    password,
                    Role.GUIDE,
                    store=stores.get(guide.get("store_code")),
                    display_name=guide["name"],
                    wecom_userid=guide["wecom_userid"],
                )
        return password
