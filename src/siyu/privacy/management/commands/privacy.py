"""`siyu privacy erase --request N [--json]`: erase the customer of a deletion request and scan (in-process,
or handed to `siyu serve`, which owns the warehouse)."""

import json

from django.core.management.base import BaseCommand, CommandError

from siyu.core.actions import record_audit
from siyu.core.progress import exit_unless_done, run_with_progress
from siyu.privacy import erasure
from siyu.privacy.errors import PrivacyError
from siyu.privacy.models import DataRequest


class Command(BaseCommand):
    help = "Privacy requests: `erase --request N` erases the customer of a deletion request and scans for leftovers."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="what", required=True)
        erase = sub.add_parser("erase", help="erase the customer of a deletion request, then scan (a step of it)")
        erase.add_argument("--request", type=int, required=True, metavar="N", help="the deletion request's number")
        erase.add_argument("--json", action="store_true", help="print the job's result as one JSON object")

    def handle(self, *args, **options):
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
