"""The control plane's PostgreSQL dropping every connection while `siyu serve` takes API batches and runs
jobs (docs/faults.md). To its clients a server-side drop looks like a PostgreSQL restart; it is done here by
terminating every backend of the test's own database (`pg_terminate_backend`), a few times, spaced, while a
client pushes batches of orders with Idempotency-Keys, retrying on 5xx and connection errors as a real
integrator would, and the server's worker runs jobs. The server itself is never restarted.

What a user would notice is checked: the server and its worker keep serving, every batch answered 2xx is
in the warehouse once, a retried key does not land twice, and no job is left *running*. Runs when
DATABASE_URL names a PostgreSQL server (make test's PostgreSQL pass); skipped otherwise."""

from __future__ import annotations

import json
import time

import pytest
from order_traffic import SETUP, SUBMIT, Integrator, assert_landed_once, assert_serving_again, serving
from test_worker_processes import cluster  # noqa: F401 - the fixture: a migrated database of this test's own

pytestmark = pytest.mark.slow

BATCHES = 24
PER_BATCH = 10
DROPS = 4
SOURCE = "pgdrop"


def test_the_control_plane_dropping_every_connection_under_load_loses_nothing_and_does_nothing_twice(
    cluster,  # noqa: F811
    tmp_path,
):
    import psycopg

    home = "web"
    duckdb = {
        "SIYU_WAREHOUSE": str(tmp_path / home / "warehouse.duckdb"),
        "SIYU_WORKER_LEASE": 30,
        "SIYU_RESOLVE_AFTER_API_SECONDS": 1,  # the resolves the batches ask for run under the drops too
    }
    token = cluster.python(SETUP, home=home, **duckdb)
    dbname = cluster.db_url.rsplit("/", 1)[1]
    admin_url = cluster.db_url.rsplit("/", 1)[0] + "/postgres"
    with serving(cluster, home, duckdb, tmp_path / "server.log") as (port, lines):
        marker = tmp_path / "naps.txt"
        # jobs for the worker, running across the drops (the command hands them to the server's worker)
        naps = json.loads(cluster.python(SUBMIT, 3, 2, marker, home=home, **duckdb))
        pusher = Integrator(port, token, time.monotonic() + 45, source=SOURCE, per_batch=PER_BATCH, batches=BATCHES)
        pusher.start()

        terminated = []
        with psycopg.connect(admin_url, autocommit=True) as admin:
            for _ in range(DROPS):
                time.sleep(2.5)
                (count,) = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (dbname,),
                ).fetchone()
                terminated.append(count)
        assert sum(terminated) >= DROPS, terminated  # the server's connections were there to drop

        pusher.join(timeout=60)
        assert not pusher.is_alive()
        output = "\n".join(lines)
        assert not pusher.unanswered, "\n".join([*pusher.unanswered, pusher.log()[-6000:], output[-6000:]])
        assert len(pusher.accepted) == BATCHES
        # every retried key answered 2xx once more was a replay, not a second landing
        assert len(pusher.replays) == len(range(0, BATCHES, 3)), (pusher.replays, pusher.log())
        assert "the task worker stopped" not in output, output

        # answers resume at once after the last drop; the resolves the batches asked for ran too
        jobs = assert_serving_again(cluster, port, naps, marker, home, duckdb)
        assert {"nap", "resolve"} <= {kind for kind, _, _ in jobs}, jobs

    assert_landed_once(cluster, pusher, home, duckdb)
