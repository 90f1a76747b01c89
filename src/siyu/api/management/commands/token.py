"""`siyu token create USER --scope AREA:read|write … [--expires-in 90d] [--label L]`, `siyu token list
[--user U] [--json]`, `siyu token revoke USER LABEL`: API tokens with scopes and an expiry (also on the console page
settings → API tokens, siyu.api.views)."""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from siyu.api.actions import create_token, parse_lifetime, revoke_token
from siyu.api.models import ApiToken
from siyu.api.scopes import AREAS, ScopeError

AREA_HELP = "; ".join(f"{area}: {text}" for area, text in AREAS.items())


def _user(name: str):
    user = get_user_model().objects.filter(username=name).first()
    if user is None:
        raise CommandError(f"no user {name!r}; create one with `siyu createuser`")
    return user


class Command(BaseCommand):
    help = "Create, list or revoke API tokens; use one as `Authorization: Bearer <token>`."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="a new token (printed once; only its hash is kept)")
        create.add_argument("user", help="login name of the user the token acts as (its role still applies)")
        create.add_argument("--scope", action="append", required=True, metavar="AREA:read|write",
                            help=f"repeatable; * for everything, *:read to read everything. Areas — {AREA_HELP}")  # fmt: skip
        create.add_argument("--expires-in", default="", metavar="90d",
                            help="lifetime: hours, days, weeks or years (12h, 90d, 4w, 1y); default: never")  # fmt: skip
        create.add_argument("--label", default="", help="what the token is for (e.g. the shop system)")
        listing = sub.add_parser("list", help="the tokens, revoked ones too, newest first (never the token itself)")
        listing.add_argument("--user", default="", help="only this user's tokens")
        listing.add_argument("--json", action="store_true", help="print JSON for scripts")
        revoke = sub.add_parser("revoke", help="revoke a user's live tokens of one label (the console can too)")
        revoke.add_argument("user")
        revoke.add_argument("label")

    def handle(self, *args, **options):
        getattr(self, f"_{options['action']}")(options)

    def _create(self, options):
        user = _user(options["user"])
        try:
            lifetime = parse_lifetime(options["expires_in"]) if options["expires_in"] else None
            token = create_token(user, options["label"], scopes=options["scope"], expires_in=lifetime)
        except ScopeError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(token)

    def _list(self, options):
        tokens = ApiToken.objects.select_related("user").order_by("-created_at", "-pk")
        if options["user"]:
            tokens = tokens.filter(user=_user(options["user"]))
        now = timezone.now()
        rows = [
            {"user": t.user.get_username(), "label": t.name, "scopes": t.scopes,
             "expires_at": t.expires_at.isoformat() if t.expires_at else None,
             "expired": bool(t.expires_at and t.expires_at <= now), "created_at": t.created_at.isoformat(),
             "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
             "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None}
            for t in tokens
        ]  # fmt: skip
        if options["json"]:
            self.stdout.write(json.dumps(rows, ensure_ascii=False))
            return
        for row in rows:
            expiry = "expired" if row["expired"] else f"expires {row['expires_at'] or 'never'}"
            expiry = f"revoked {row['revoked_at']}" if row["revoked_at"] else expiry
            self.stdout.write(f"{row['user']}\t{row['label'] or '-'}\t{' '.join(row['scopes'])}\t{expiry}")

    def _revoke(self, options):
        count = revoke_token(_user(options["user"]), options["label"])
        if not count:
            raise CommandError(f"{options['user']} has no token labelled {options['label']!r}")
        self.stdout.write(f"revoked {count} token(s)")
