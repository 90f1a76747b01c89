"""`siyu` — the command line. Each subcommand is a Django management command of its app; this wrapper
sets the settings preset, brings the control-plane schema up to date and prints a short help."""

from __future__ import annotations

import os
import sys

from siyu import __version__

COMMANDS = {
    "demo": "generate a demo brand, import it through the real importers, resolve, serve",
    "serve": "run the console, API and task worker (owns the warehouse); --no-worker: web only (Spark)",
    "worker": "run the task worker alone (DuckDB: owns the warehouse; Spark: as many as you like)",
    "import": "import channel exports: siyu import PATH… --source NAME [--format …] [--map COL=FIELD]",
    "resolve": "resolve identities into customers",
    "traits": "compute RFM, value layers, lifecycle, purchase cycles, tags: siyu traits [--as-of DATE]",
    "sync": "sync WeCom external contacts, tags and owner guides: siyu sync wecom [--json]",
    "predict": "purchase propensity and CLV per customer: siyu predict [--as-of DATE] [--horizon-days N]",
    "export": "export identities|customers OUT.csv|xlsx, segment ID OUT.csv|xlsx, or rejected FILE OUT.csv",
    "keys": "the PII key ring: siyu keys status|rotate [--resume]|retire ID [--json]",
    "retention": "remove data past its retention period: siyu retention [--dry-run] [--json]",
    "privacy": "data-subject requests: siyu privacy copy CUSTOMER_ID OUT.zip [--request N] | erase --request N",
    "jobs": "the latest jobs and how they ended: siyu jobs [--status queued|running|done|failed] [--limit N]",
    "backup": "a consistent backup of both planes and the uploads, also while serving: siyu backup OUT [--verify]",
    "restore": "restore a backup into a fresh SIYU_HOME and verify it: siyu restore IN [--force]",
    "createuser": "create a console/API account: siyu createuser NAME --role admin|operator|manager|guide",
    "token": "API tokens: siyu token create USER --scope AREA:read|write [--expires-in 90d] | list | revoke",
    "createtoken": "an API token with every scope, no expiry: siyu createtoken NAME (see siyu token)",
    "bench": "benchmarks: siyu bench ingest|resolve|review|traits|predictions|analytics|segments|dispatch|wecom_sync|"
    "community|loyalty|components|scale|load [--people N …] [--stages] [--engine duckdb|spark] [--records N] "
    "[--orders-per-person M] [--orders-per-buyer M]",
}

HELP = "usage: siyu COMMAND [options]   (siyu COMMAND --help for its options)\n\ncommands:\n" + "\n".join(
    f"  {name:<11} {text}" for name, text in COMMANDS.items()
)


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.project.settings")
    import django

    django.setup()


def migrate_quietly() -> None:
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        call_command("migrate", interactive=False, verbosity=0)


def main(argv: list[str] | None = None) -> int:
    from_command_line = argv is None  # not a test calling main([...]) in its own process
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(HELP)
        return 0
    if argv[0] in ("--version", "version"):
        print(__version__)
        return 0
    from django.core.exceptions import ImproperlyConfigured

    try:
        setup_django()
    except ImproperlyConfigured as exc:  # a key file every user can read, an audit retention too short…
        print(f"siyu: {exc}", file=sys.stderr)
        return 2
    # restore replaces the control plane and migrates what it put in place
    if argv[0] not in ("--help", "restore") and "--help" not in argv and "-h" not in argv:
        migrate_quietly()
    if from_command_line:
        from siyu.core.leases import enable_for_commands

        enable_for_commands()  # a job this process runs itself holds a lease, so other hosts know it is alive
    from django.core.management import execute_from_command_line

    execute_from_command_line(["siyu", *argv])
    return 0


if __name__ == "__main__":
    sys.exit(main())
