"""`siyu keys status|rotate|retire`: the PII key ring (siyu.core.rotation). Counting and re-encrypting run
where the warehouse is owned: in this process, or inside `siyu serve` while it keeps serving."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from siyu.core.progress import exit_unless_done, run_with_progress


class Command(BaseCommand):
    help = (
        "The PII key ring: `status` (how many ciphertexts each key still holds), `rotate` (add a new key and "
        "re-encrypt everything under it, in batches, while the server runs; --resume: re-encrypt only, after "
        "a rotation was stopped or a key was added by the secrets manager), `retire ID` (drop an old key once "
        "nothing is under it)."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["status", "rotate", "retire"])
        parser.add_argument("key", nargs="?", type=int, help="retire: the id of the key to drop")
        parser.add_argument("--resume", action="store_true", help="rotate: do not add a key, re-encrypt only")
        parser.add_argument("--json", action="store_true", help="print the report as one JSON object")

    def handle(self, *args, action, key=None, resume=False, **options):
        if action == "status":
            job = run_with_progress("key_status", {}, quiet=options["json"])
        elif action == "rotate":
            job = run_with_progress("rotate_keys", {"add_key": not resume}, quiet=options["json"])
        else:
            if key is None:
                self.stderr.write("siyu keys retire needs the id of the key (siyu keys status lists them)")
                raise SystemExit(2)
            job = run_with_progress("retire_key", {"key": key}, quiet=options["json"])
        exit_unless_done(job, f"keys {action}", self.stderr)
        report = job.result
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False, sort_keys=True))
            return
        if action == "status":
            self.stdout.write(f"Key ring ({report['source']}): keys {', '.join(map(str, report['keys']))}; "
                              f"new data is encrypted with key {report['current']}.")  # fmt: skip
            for key_id, n in report["under_key"].items():
                self.stdout.write(f"  key {key_id}: {n:,} ciphertexts")
            if report["missing_keys"]:
                self.stderr.write(f"Ciphertexts under keys not in the ring: {report['missing_keys']}")
        elif action == "rotate":
            if report.get("added_key") is not None:
                self.stdout.write(f"Added key {report['added_key']}; new data is encrypted with it.")
            self.stdout.write(
                f"Re-encrypted {report['reencrypted']:,} ciphertexts ({report['bytes'] / 1e6:.1f} MB) in "
                f"{report['seconds']:.1f} s."
            )
            left = report["left_under_old_keys"]
            if left:
                self.stdout.write("Still under old keys (run `siyu keys rotate --resume`): " + ", ".join(
                    f"key {k}: {n:,}" for k, n in left.items()))  # fmt: skip
            else:
                self.stdout.write("Nothing is left under an old key: `siyu keys retire ID` drops it.")
        else:
            self.stdout.write(f"Key {report['retired']} retired; the ring holds {report['keys']}.")
