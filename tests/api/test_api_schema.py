"""Property-based run of the API against its own OpenAPI schema (schemathesis): whatever a client sends that
the schema allows, the API must not fail with a 5xx, and every answer must match the schema it documents."""

import uuid

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from customers.sample_brand import make_brand
from siyu.api.actions import create_token

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# About 2 s per operation on a laptop: the whole run stays well under a minute.
FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def wsgi_app():
    # The test runs inside one database transaction; Django's per-request connection cleanup would end it.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def fuzz(operation, headers, **fixed):
    @FUZZ
    @given(case=operation.as_strategy(**fixed))
    def run(case):
        per_case = dict(headers)
        if case.method.upper() in ("POST", "DELETE"):
            per_case["Idempotency-Key"] = uuid.uuid4().hex
        case.call_and_validate(headers=per_case, checks=CHECKS)

    run()


def test_api_conforms_to_its_openapi_schema(warehouse, wsgi_app):
    brand = make_brand(warehouse)
    headers = {"Authorization": f"Bearer {create_token(brand.operator, 'schemathesis')}"}
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", wsgi_app)
    operations = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        operations[(operation.method.upper(), operation.path)] = operation
    assert {("GET", "/api/customers"), ("GET", "/api/customers/{customer_id}"), ("GET", "/api/tags")} <= set(
        operations
    )

    for (_method, path), operation in sorted(operations.items()):
        fuzz(operation, headers)
        if "{customer_id}" in path:  # also on a customer that exists, so the 200 answers are checked too
            fuzz(operation, headers, path_parameters={"customer_id": 1001})


def test_every_schema_of_the_api_has_a_name_of_its_own():
    """OpenAPI names a body or answer by its class name: two classes of one name become one component, and a
    client is told the wrong shape for one of them (two `DeletedOut`, one with a number, one with a flag)."""
    from ninja import Schema

    import siyu.api.api  # noqa: F401 - every router and its schemas loaded

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    by_name: dict[str, set[str]] = {}
    for cls in subclasses(Schema):
        if cls.__module__.startswith("siyu."):
            by_name.setdefault(cls.__name__, set()).add(cls.__module__)
    assert {name: sorted(mods) for name, mods in by_name.items() if len(mods) > 1} == {}
