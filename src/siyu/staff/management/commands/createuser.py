"""`siyu createuser NAME --role admin|operator|manager|guide [--store CODE] [--password P]`"""

from __future__ import annotations

import getpass
import json
import secrets
import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from siyu.staff.actions import create_user, ensure_store
from siyu.staff.errors import StaffError
from siyu.staff.models import Role, Store


class Command(BaseCommand):
    help = (
        "Create a console/API account. Without --password you are asked for one (empty: generate); "
        "when not run from a terminal a password is generated and printed once."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="login name")
        parser.add_argument("--role", required=True, choices=Role.values, help="what the account may do")
        parser.add_argument(
            "--store", metavar="CODE", help="store code (needed for a manager; a guide's store)"
        )
        parser.add_argument("--store-name", metavar="NAME", help="name of the store when --store creates it")
        parser.add_argument(
            "--password",
            help="password: at least 10 characters, not like the login name, not a common one, not all digits "
            "(default: prompt, or generate when not interactive)",
        )
        parser.add_argument("--display-name", default="", help="name shown in the console (default: NAME)")
        parser.add_argument(
            "--wecom-userid", default="", help="WeCom userid, to match owners named in imported files"
        )
        parser.add_argument("--no-input", action="store_true", help="never prompt: generate a password")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args, **options):
        name = options["name"].strip()
        if not name:
            raise CommandError("the login name is empty")
        role = options["role"]
        store = None
        if options["store"]:
            code = options["store"].strip()
            existing = Store.objects.filter(code=code).first()
            store = existing or ensure_store(code, options["store_name"] or code)
            if existing is None and not options["json"]:
                self.stderr.write(f"created store {code}")
        elif role == Role.MANAGER:
            raise CommandError("a manager needs a store: add --store CODE")

        password, generated = self._password(options, name)
        try:
            user = create_user(
                name,
                password,
                role,
                store=store,
                display_name=options["display_name"].strip(),
                wecom_userid=options["wecom_userid"].strip(),
            )
        except StaffError as exc:
            raise CommandError(str(exc)) from exc

        if options["json"]:
            result = {"username": user.get_username(), "role": role, "store": store.code if store else None}
            if generated:
                result["password"] = password
            self.stdout.write(json.dumps(result, ensure_ascii=False))
            return
        where = f" at store {store.code}" if store else ""
        self.stdout.write(f"created {role} {user.get_username()}{where}")
        if generated:
            self.stdout.write(f"password: {password}")
            self.stdout.write("(shown once: write it down or change it after logging in)")
        if role == Role.GUIDE and store is None:
            self.stderr.write("note: this guide has no store, so no store manager will see their customers")

    def _password(self, options, name: str) -> tuple[str, bool]:
        """A password the validators of settings.AUTH_PASSWORD_VALIDATORS accept (at least 10 characters,
        not like the login name, not a common password, not all digits)."""
        if options["password"] is not None:
            problems = _password_problems(options["password"], name)
            if problems:
                raise CommandError(f"the password is refused: {problems}")
            return options["password"], False
        interactive = not options["no_input"] and sys.stdin.isatty()
        if interactive:
            for _ in range(3):
                first = getpass.getpass("Password (empty: generate one): ")
                if not first:
                    break
                problems = _password_problems(first, name)
                if problems:
                    self.stderr.write(problems)
                    continue
                if getpass.getpass("Password again: ") == first:
                    return first, False
                self.stderr.write("the two passwords differ")
            else:
                raise CommandError("no password set")
        return secrets.token_urlsafe(12), True


def _password_problems(password: str, name: str) -> str:
    """What is wrong with `password` for the account `name` (empty: nothing), in English like the CLI."""
    with translation.override("en"):
        try:
            validate_password(password, user=get_user_model()(username=name))
        except ValidationError as exc:
            return " ".join(exc.messages)
    return ""

