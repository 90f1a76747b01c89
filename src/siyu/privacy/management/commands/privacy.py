"""`siyu privacy copy CUSTOMER_ID OUT.zip [--request N] [--language zh-hans|en] [--json]`: the copy of everything
held about one person (PIPL art. 45) — a ZIP with one JSON of everything and a CSV per part, Chinese headers
(English with --language en) — written to
OUT (mode 0600: it is the person's data in clear; hand it over and delete it). With --request it carries
out that access request (the download becomes a step of it). Audited like the console's button.

`siyu privacy erase --request N [--json]`: erase the customer of a deletion request and scan (in-process,
or handed to `siyu serve`, which owns the warehouse)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from siyu.core.actions import record_audit
from siyu.core.errors import NotFound, SiyuError
from siyu.core.progress import exit_unless_done, run_with_progress
from siyu.privacy import actions, erasure
from siyu.privacy.archive import CHINESE, LANGUAGES
from siyu.privacy.errors import PrivacyError
from siyu.privacy.models import DataRequest


class Command(BaseCommand):
    help = ("Data-subject requests: `copy CUSTOMER_ID OUT.zip` writes everything held about a person (JSON + CSV); "
            "`erase --request N` erases the customer of a deletion request and scans for leftovers.")  # fmt: skip

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="what", required=True)
        copy = sub.add_parser("copy", help="write the copy of everything held about one customer to a ZIP")
        copy.add_argument("customer_id", type=int, nargs="?", help="the customer (optional with --request)")
        copy.add_argument("out", help="the ZIP file to write (not overwritten unless --force)")
        copy.add_argument("--request", type=int, help="the access request this copy carries out")
        copy.add_argument("--force", action="store_true", help="replace OUT if it exists")
        copy.add_argument("--language", choices=LANGUAGES, default=CHINESE,
                          help="the language of the copy's names and headers (default: Simplified Chinese)")  # fmt: skip
        copy.add_argument("--json", action="store_true", help="print what was written as JSON")
        erase = sub.add_parser("erase", help="erase the customer of a deletion request, then scan (a step of it)")
        erase.add_argument("--request", type=int, required=True, metavar="N", help="the deletion request's number")
        erase.add_argument("--json", action="store_true", help="print the job's result as one JSON object")

    def handle(self, *args, **options):
        if options["what"] == "copy":
            self._copy(options)
        else:
            self._erase(options)

    def _copy(self, options):
        out = Path(options["out"])
        if out.suffix.lower() != ".zip":
            raise CommandError("OUT must be a .zip file")
        if out.exists() and not options["force"]:
            raise CommandError(f"{out} exists; choose another name or add --force")
        if not out.parent.is_dir():
            raise CommandError(f"there is no folder {out.parent}")
        try:
            _name, content, summary = actions.copy_of_person(None, options["customer_id"], request_id=options["request"],
                                                             language=options["language"])  # fmt: skip
        except (SiyuError, NotFound) as exc:
            raise CommandError(str(exc)) from exc
        temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(temporary, out)
        if options["json"]:
            self.stdout.write(json.dumps({"path": str(out), "bytes": len(content), **summary}, ensure_ascii=False))
        else:
            parts = sum(1 for n in summary["sections"].values() if n)
            self.stdout.write(f"wrote {out}: {summary['rows']} rows in {parts} parts (of {len(summary['sections'])}); "
                              "it holds the person's data in clear — hand it over, then delete it")

    def _erase(self, options):
        try:
            request = DataRequest.objects.get(pk=options["request"])
            erasure.check_erasable(request)
        except DataRequest.DoesNotExist as exc:
            raise CommandError(f"no privacy request {options['request']}") from exc
        except PrivacyError as exc:
            raise CommandError(str(exc)) from exc
        record_audit(None, "privacy_request_erasure_queued", target=str(request.customer_id), request=request.pk)
        job = run_with_progress(erasure.JOB_KIND, {"request": request.pk})
        exit_unless_done(job, "privacy erase", self.stderr)
        result = job.result
        if options["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False, sort_keys=True))
            return
        for name, counts in result["erased"].items():
            shown = ", ".join(f"{k}={v}" for k, v in counts.items())
            self.stdout.write(f"{name}: {shown}")
        if result["clean"]:
            self.stdout.write(f"scan: nothing of customer {result['customer_id']} is left; "
                              f"close request {request.pk} as done")  # fmt: skip
        else:
            left = ", ".join(f"{k}={v}" for k, v in result["found"].items())
            self.stdout.write(f"scan: still found {left}; the request cannot be closed as done")
            raise SystemExit(1)
