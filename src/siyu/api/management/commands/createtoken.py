"""`siyu createtoken NAME [--label L]`: an API token for a user (printed once; only its hash is kept)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from siyu.api.actions import create_token


class Command(BaseCommand):
    help = "Create an API token for a user; use it as `Authorization: Bearer <token>`."

    def add_arguments(self, parser):
        parser.add_argument("name", help="login name of the user the token acts as")
        parser.add_argument("--label", default="", help="what the token is for (e.g. the shop system)")

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["name"]).first()
        if user is None:
            raise CommandError(f"no user {options['name']!r}; create one with `siyu createuser`")
        self.stdout.write(create_token(user, options["label"]))
