"""Stateful run of the API (schemathesis): chains of calls in which a later call uses what an earlier answer
returned (an id from a list, a created segment, subscription or spend entry), along the links schemathesis
infers from the OpenAPI schema. No chain may end in a 5xx or an answer off its schema; a resource a POST
created is then found where its links say, and one a DELETE removed is gone."""

import uuid

import pytest
import schemathesis
from django.db import transaction
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import ensure_resource_availability, use_after_free
from test_api_schema import CHECKS, wsgi_app  # noqa: F401 - the fixture, shared

from customers.sample_brand import make_brand
from siyu.api.actions import create_token

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

STATEFUL = settings(
    max_examples=50,
    stateful_step_count=6,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def test_chains_of_linked_calls_keep_to_the_schema(warehouse, wsgi_app):  # noqa: F811
    brand = make_brand(warehouse)
    auth = {"Authorization": f"Bearer {create_token(brand.admin, 'stateful')}"}
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", wsgi_app)
    workflow = schema.as_state_machine()
    links = [name for name in vars(workflow) if not name.startswith(("RANDOM__", "_")) and "___" in name]
    # the ids the answers carry link the operations: a list to its items, a create to its reads and deletes
    assert len(links) >= 50, links

    class Workflow(workflow):
        # every scenario starts from the same brand: what one scenario created is rolled back, so that a
        # replayed scenario meets the same answers (hypothesis replays them to shrink a failure)
        def setup(self):
            self.savepoint = transaction.savepoint()

        def teardown(self):
            transaction.savepoint_rollback(self.savepoint)

        def get_call_kwargs(self, case):
            headers = dict(auth)
            if case.method.upper() != "GET":
                headers["Idempotency-Key"] = uuid.uuid4().hex
            return {"headers": headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(
                response, checks=[*CHECKS, ensure_resource_availability, use_after_free], transport_kwargs=kwargs
            )

    # (which chains reach an existing resource depends on the ids the database hands out, which differ
    # between SQLite and PostgreSQL runs: no count of successful linked calls is asserted)
    Workflow.run(settings=STATEFUL)


# what the stateful run found, kept as plain cases


def _admin_api(db):
    from django.test import Client

    from siyu.staff.actions import create_user

    token = create_token(create_user("boss", "pw-boss-1", "admin"), "t")
    return Client(headers={"Authorization": f"Bearer {token}"})


def test_a_path_no_route_matches_answers_json_not_the_consoles_page(db):
    # the schema says "an integer"; -1 is one, but the route's path takes digits only
    answer = _admin_api(db).post("/api/community/sensitive-alerts/-1/handle", {}, content_type="application/json",
                                 headers={"Idempotency-Key": "k1"})  # fmt: skip
    assert answer.status_code == 404 and answer["Content-Type"] == "application/json"
    assert "/api/community/sensitive-alerts/-1/handle" in answer.json()["detail"]


def test_a_nul_character_in_a_query_parameter_is_refused_not_a_server_error(db, warehouse):
    answer = _admin_api(db).get("/api/community/silent-members", {"room_id": "a\x00b"})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "room_id"]


def test_a_nul_character_in_a_json_body_text_is_refused_before_the_database(db):
    api = _admin_api(db)
    rule = {"name": "规则", "kind": "regex", "pattern": "a\x00b", "group_types": ["all"]}
    answer = api.post("/api/community/sensitive-rules", rule, content_type="application/json",
                      headers={"Idempotency-Key": "k2"})  # fmt: skip
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body"]
    # the text "\u0000" (a backslash, then u0000) is no NUL character: it passes
    rule["pattern"] = "a\\u0000b"
    answer = api.post("/api/community/sensitive-rules", rule, content_type="application/json",
                      headers={"Idempotency-Key": "k3"})  # fmt: skip
    assert answer.status_code == 201, answer.content
