import json
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from siyu.staff.models import Store

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("createuser", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_creates_a_guide_in_a_new_store_with_the_given_password():
    out, err = run(
        "lina",
        "--role",
        "guide",
        "--store",
        "SH01",
        "--password",
        "s3cret-pass",
        "--display-name",
        "李娜",
        "--wecom-userid",
        "LiNa",
    )
    assert "created guide lina at store SH01" in out and "password" not in out
    user = authenticate(username="lina", password="s3cret-pass")
    assert user is not None
    assert (user.staff.role, user.staff.display_name, user.staff.wecom_userid) == ("guide", "李娜", "LiNa")
    assert user.staff.store == Store.objects.get(code="SH01")
    assert not user.is_superuser


def test_without_a_password_one_is_generated_and_printed_once():
    out, _ = run("boss", "--role", "admin", "--no-input")
    password = next(line for line in out.splitlines() if line.startswith("password: ")).split(": ", 1)[1]
    user = authenticate(username="boss", password=password)
    assert user is not None and user.is_superuser and user.staff.role == "admin"


def test_json_output_for_scripts():
    out, _ = run("ops", "--role", "operator", "--no-input", "--json")
    result = json.loads(out)
    assert result["username"] == "ops" and result["role"] == "operator" and len(result["password"]) >= 12


def test_refusals_say_why():
    with pytest.raises(CommandError, match="store"):
        run("m", "--role", "manager", "--password", "long-enough")
    with pytest.raises(CommandError, match="at least 10 characters"):
        run("m", "--role", "operator", "--password", "short")
    with pytest.raises(CommandError, match="too common"):
        run("m", "--role", "operator", "--password", "password123")
    with pytest.raises(CommandError, match="too similar"):
        run("zhangwei2026", "--role", "operator", "--password", "zhangwei2026!")
    with pytest.raises(CommandError, match="entirely numeric"):
        run("m", "--role", "operator", "--password", "1357913579")
    run("dup", "--role", "operator", "--password", "long-enough")
    with pytest.raises(CommandError, match="already exists"):
        run("dup", "--role", "operator", "--password", "long-enough")


@pytest.mark.django_db(transaction=True)  # the command closes its connection when it ends, like any CLI run
def test_siyu_cli_runs_it():
    from siyu.cli import main

    assert main(["createuser", "viaclI", "--role", "operator", "--password", "long-enough"]) == 0
    assert authenticate(username="viaclI", password="long-enough") is not None
