"""Erasure reaches the identity model: the term-frequency tables the last full resolve stored (encrypted)
count names, nicknames and districts by value. Erasing a person whose name no one else has takes that name
out of the stored tables in the same erasure, the scan checks them, and the next import is still resolved
incrementally with the stored model."""

from __future__ import annotations

import pytest

from siyu.core.models import Job
from siyu.demo.generate import generate_brand
from siyu.identity.actions import _person_tf_values, _stored_model, resolve_identities
from siyu.identity.incremental import value_counts
from siyu.ingest.actions import import_files
from siyu.privacy import actions
from siyu.staff.actions import create_user
from siyu.warehouse import backend
from siyu.warehouse import erasure as warehouse_erasure

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

LATER = "douyin"  # imported after the erasure: resolved incrementally with the stored model


@pytest.fixture
def resolved(warehouse, tmp_path):
    brand = generate_brand(tmp_path / "brand", people=300, seed=11)
    for f in brand.files:
        if f.source != LATER:
            import_files([f.path], source=f.source, format=f.format)
    assert resolve_identities().mode == "full"
    return brand


def _one_of_a_kind(con, warehouse, model) -> tuple[int, dict[str, dict[str, int]]]:
    """A customer holding a name that no one else holds, and their values in the model's columns."""
    counts = value_counts(model)
    ids = [
        r[0]
        for r in warehouse.raw_connection()
        .execute("SELECT customer_id FROM customer_summary ORDER BY 1")
        .fetchall()
    ]
    for cid in ids:
        held = _person_tf_values(con, warehouse_erasure.record_keys_of(cid), model)
        names = held.get("name_full", {})
        if any(counts["name_full"].get(v) == n for v, n in names.items()):
            return cid, held
    raise AssertionError("no customer with a name of their own")


def test_erasure_takes_the_persons_values_out_of_the_stored_model(resolved, warehouse):
    con = backend()
    _, model = _stored_model(con)
    assert model is not None and "name_full" in model.term_frequencies
    cid, held = _one_of_a_kind(con, warehouse, model)
    before = value_counts(model)
    theirs = {v for v, n in held["name_full"].items() if before["name_full"].get(v) == n}
    # a record of theirs is a row of its own here, folded into one in the model: counted at most as often
    taken = {v: min(before["name_full"].get(v, 0), n) for v, n in held["name_full"].items()}
    shared = {
        v: before["name_full"][v] - n
        for v, n in held["name_full"].items()
        if before["name_full"].get(v, 0) > n
    }

    ops = create_user("ops", "pw-ops-1", "operator")
    request = actions.open_request(
        customer_id=cid, kind="deletion", source="member_centre", verification="短信验证码"
    )
    job = actions.request_erasure(ops, request.pk)
    assert job.status == Job.Status.DONE, job.error
    assert job.result["clean"], job.result["found"]
    assert job.result["erased"]["identity_model"]["removed"] >= len(theirs) >= 1

    _, after_model = _stored_model(backend())
    after = value_counts(after_model)
    assert not theirs & set(after["name_full"])  # decrypted: their own name is in no table any more
    for column, values in held.items():
        for value in values:
            assert after[column].get(value, 0) <= max(before[column].get(value, 0) - values[value], 0)
    assert all(after["name_full"][v] == n for v, n in shared.items())  # others keep their counts
    assert after_model.tf_totals["name_full"] == model.tf_totals["name_full"] - sum(taken.values())
    # the other values' frequencies are counted over the rows left
    other = next(v for v in after["name_full"] if v not in held["name_full"])
    tf = dict(zip(*after_model.term_frequencies["name_full"].to_pydict().values(), strict=True))
    assert tf[other] == pytest.approx(before["name_full"][other] / after_model.tf_totals["name_full"])

    later = [f for f in resolved.files if f.source == LATER]
    import_files([f.path for f in later], source=LATER, format=later[0].format)
    report = resolve_identities()
    assert report.mode == "incremental", report.full_reason
    assert report.probabilistic["ran"]
    assert warehouse_erasure.record_keys_of(cid)  # the erased customer stays one customer
