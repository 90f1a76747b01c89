"""Erasure (PIPL art. 47): a person imported from two files (one with a rejected row of theirs) is erased —
their rows leave the encrypted raw chunks while the other people's rows in the same chunks still decrypt,
their records' PII columns are blank, the rejected-rows file no longer holds them, the scan finds nothing
and is a step of the request; order amounts stay; importing the files again does not bring them back; a
second erasure changes nothing; a guide cannot erase."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from siyu.core.errors import PermissionDenied
from siyu.core.models import Job
from siyu.engagement.messaging.channel_actions import customers_with_phone
from siyu.identity.actions import resolve_identities
from siyu.ingest import rejected
from siyu.ingest.actions import import_files
from siyu.privacy import actions
from siyu.privacy.errors import PrivacyError
from siyu.privacy.models import DataRequest, DataRequestStep, Suppression
from siyu.staff.actions import create_user
from siyu.warehouse import erasure as warehouse_erasure

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ingest"))
from test_import import taobao_row, write_taobao  # noqa: E402

pytestmark = pytest.mark.django_db

PHONE, NAME, BUYER = "13912345678", "欧阳明月", "oymy_buyer88"
OTHER_PHONE, OTHER_NAME = "13700001111", "司马青云"


@pytest.fixture
def brand(warehouse, settings, tmp_path):
    settings.UPLOADS_DIR = tmp_path / "uploads"
    first = write_taobao(tmp_path / "first.csv", [
        taobao_row(order="1001", buyer=BUYER, name=NAME, phone=f"'{PHONE}", amount="100.00"),
        taobao_row(order="1002", buyer="smqy_buyer7", name=OTHER_NAME, phone=f"'{OTHER_PHONE}", amount="50.00"),
    ])  # fmt: skip
    second = write_taobao(tmp_path / "second.csv", [
        taobao_row(order="2001", buyer=BUYER, name=NAME, phone=f"'{PHONE}", amount="20.00"),
        taobao_row(order="2002", buyer=BUYER, name=NAME, phone=f"'{PHONE}", amount="不是金额"),
        taobao_row(order="2003", buyer="smqy_buyer7", name=OTHER_NAME, phone=f"'{OTHER_PHONE}", amount="坏"),
    ])  # fmt: skip
    import_files([first], "tmall")
    report = import_files([second], "tmall")
    resolve_identities()
    (cid,), _ = customers_with_phone(PHONE)
    return {"files": [first, second], "customer": cid, "rejected_file": Path(report.files[0].rejected_file),
            "ops": create_user("ops", "pw-ops-1", "operator"), "guide": create_user("g1", "pw-g1-1", "guide")}  # fmt: skip


def _chunk_cells(con) -> list[list]:
    rows = []
    for batch_id, chunk_no in con.raw_connection().execute("SELECT batch_id, chunk_no FROM raw_chunks").fetchall():
        frame = warehouse_erasure.raw_chunk(batch_id, chunk_no)
        rows += [[str(c) for c in row] for row in frame.drop("__row__").iter_rows()]
    return rows


def _totals(con):
    return con.raw_connection().execute(
        "SELECT count(*), sum(amount) FROM orders UNION ALL SELECT count(*), sum(amount) FROM customer_orders"
    ).fetchall()


def _deletion(brand) -> DataRequest:
    return actions.open_request(customer_id=brand["customer"], kind="deletion", source="member_centre",
                                verification="短信验证码")  # fmt: skip


def test_erasure_removes_the_person_everywhere_and_keeps_the_aggregates(brand, warehouse):
    con = warehouse
    assert any(PHONE in " ".join(r) and NAME in " ".join(r) for r in _chunk_cells(con))
    assert any(PHONE in line for line in rejected.rejected_csv(brand["rejected_file"], masked=False))
    totals = _totals(con)
    request = _deletion(brand)
    with pytest.raises(PrivacyError):  # no erasure yet: it cannot be done
        actions.close_request(brand["ops"], request.pk, done=True, note="已删除")

    job = actions.request_erasure(brand["ops"], request.pk)
    assert job.status == Job.Status.DONE, job.error
    assert job.result["clean"] and job.result["erased"]["warehouse"]["raw_rows"] == 2

    cells = _chunk_cells(con)
    assert not any(PHONE in " ".join(r) or NAME in " ".join(r) or BUYER in " ".join(r) for r in cells)
    assert any(OTHER_PHONE in " ".join(r) and OTHER_NAME in " ".join(r) for r in cells)  # same chunk, intact
    keys = warehouse_erasure.record_keys_of(brand["customer"])
    assert len(keys) == 2
    blank = con.raw_connection().execute(
        "SELECT count(*) FROM records WHERE record_key IN (?, ?) AND pii IS NULL AND phone_hash IS NULL "
        "AND name_hash IS NULL AND phone_masked IS NULL", keys).fetchone()[0]  # fmt: skip
    assert blank == 2
    lines = list(rejected.rejected_csv(brand["rejected_file"], masked=False))
    text = "".join(lines)
    assert PHONE not in text and NAME not in text and OTHER_PHONE in text  # the other person's row stays
    assert _totals(con) == totals  # orders and their customer ids stay
    assert customers_with_phone(PHONE) == ([], None)

    request.refresh_from_db()
    steps = {s.action: s for s in request.steps.all()}
    assert steps["scan"].result == {"found": {}} and steps["scan"].note == "未发现残留"
    assert "erasure" in steps
    actions.close_request(brand["ops"], request.pk, done=True, note="已删除并核验")
    assert DataRequest.objects.get(pk=request.pk).status == "done"
    assert Suppression.objects.count() >= 2  # phone and buyer id


def test_a_reimport_does_not_bring_the_person_back_and_a_second_erasure_is_a_no_op(brand, warehouse):
    request = _deletion(brand)
    actions.request_erasure(brand["ops"], request.pk)
    report = import_files(brand["files"], "tmall")
    assert [f.suppressed for f in report.files] == [1, 2]
    resolve_identities()
    assert customers_with_phone(PHONE) == ([], None)
    resolve_identities(full=True)  # a full run re-resolves every record: the erased ones stay one customer
    assert warehouse_erasure.record_keys_of(brand["customer"]) == ["tmall|1001", "tmall|2001"]
    assert not any(PHONE in " ".join(r) for r in _chunk_cells(warehouse))
    text = "".join(rejected.rejected_csv(brand["rejected_file"], masked=False))
    assert PHONE not in text and OTHER_PHONE in text  # the re-import kept the other person's rejected row

    again = actions.request_erasure(brand["ops"], request.pk)
    assert again.status == Job.Status.DONE and again.result["clean"]
    erased = again.result["erased"]
    assert erased["warehouse"] == {"raw_rows": 0, "raw_chunks": 0, "records": 0, "identifiers": 0, "summary": 0}
    assert erased["rejected_rows"] == {"files": 0, "rows": 0} and erased["suppression"]["new"] == 0


def test_a_guide_cannot_erase_and_only_a_deletion_request_erases(brand):
    request = _deletion(brand)
    with pytest.raises(PermissionDenied):
        actions.request_erasure(brand["guide"], request.pk)
    access = actions.open_request(customer_id=brand["customer"], kind="access", source="member_centre",
                                  verification="短信验证码")  # fmt: skip
    with pytest.raises(PrivacyError):
        actions.request_erasure(brand["ops"], access.pk)
    assert not DataRequestStep.objects.filter(action="erasure").exists()


def test_the_console_button_the_api_and_the_cli_erase_with_the_same_permissions(brand, client):
    import json

    from django.core.management import call_command

    from siyu.api.actions import create_token

    request = _deletion(brand)

    def api(user):
        headers = {"Authorization": f"Bearer {create_token(user, 'tests')}", "Idempotency-Key": f"erase-{user.pk}"}
        return client.post(f"/api/privacy/requests/{request.pk}/erase", content_type="application/json",
                           headers=headers)  # fmt: skip

    assert api(brand["guide"]).status_code == 403
    assert not DataRequestStep.objects.filter(action="erasure").exists()
    client.force_login(brand["ops"])
    page = client.get(f"/privacy/requests/{request.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "执行删除" in page and 'value="erase"' in page
    client.post(f"/privacy/requests/{request.pk}/move/", {"action": "erase"})
    page = client.get(f"/privacy/requests/{request.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'data-step="erasure"' in page and 'data-step="scan"' in page and "未发现残留" in page
    assert customers_with_phone(PHONE) == ([], None)
    client.logout()
    answer = api(brand["ops"])
    assert answer.status_code == 200 and answer.json()["clean"] is True and answer.json()["job_status"] == "done"

    out = __import__("io").StringIO()
    call_command("privacy", "erase", "--request", str(request.pk), "--json", stdout=out)
    assert json.loads(out.getvalue())["clean"] is True
    assert DataRequestStep.objects.filter(request=request, action="scan").count() == 3


def test_uploaded_files_holding_the_person_are_deleted_unless_a_waiting_job_needs_them(brand, settings):
    import shutil

    from siyu.core.models import Job

    uploads = Path(settings.UPLOADS_DIR)
    theirs, waiting, others = (uploads / f"{n:032x}" for n in (1, 2, 3))
    for folder in (theirs, waiting, others):
        folder.mkdir(parents=True)
    shutil.copy(brand["files"][0], theirs / "first.csv")
    shutil.copy(brand["files"][1], waiting / "second.csv")
    write_taobao(others / "others.csv", [taobao_row(order="3001", buyer="smqy_buyer7", name=OTHER_NAME,
                                                    phone=f"'{OTHER_PHONE}", amount="5.00")])  # fmt: skip
    job = Job.objects.create(kind="import", params={"paths": [str(waiting / "second.csv")]}, status="queued")
    request = _deletion(brand)

    refused = actions.request_erasure(brand["ops"], request.pk)  # the import would leave them behind
    assert refused.status == Job.Status.FAILED and "erase after it has run" in refused.error
    assert (theirs / "first.csv").exists() and not DataRequestStep.objects.filter(action="erasure").exists()
    Job.objects.filter(pk=job.pk).update(status="done")
    done = actions.request_erasure(brand["ops"], request.pk)
    assert done.result["clean"] and done.result["erased"]["uploads"] == {"files": 2}
    assert not theirs.exists() and not waiting.exists() and (others / "others.csv").exists()  # others' stays


def test_export_files_still_where_they_were_written_lose_the_persons_rows(brand, tmp_path):
    import polars as pl

    from siyu.segments.exports import export_to_file

    customers, identities = tmp_path / "customers.csv", tmp_path / "identities.xlsx"
    export_to_file("customers", str(customers), brand["ops"])
    export_to_file("identities", str(identities), brand["ops"])
    cid = str(brand["customer"])
    before = pl.read_csv(customers, infer_schema=False)
    assert cid in before["customer_id"].to_list() and before.height == 2

    job = actions.request_erasure(brand["ops"], _deletion(brand).pk)
    assert job.result["clean"] and job.result["erased"]["exports"]["files"] == 2
    after = pl.read_csv(customers, infer_schema=False)
    assert cid not in after["customer_id"].to_list() and after.height == 1  # the other customer stays
    rows = pl.read_excel(identities, infer_schema_length=0)
    assert cid not in rows["customer_id"].to_list() and rows.height > 0


def test_a_phone_the_person_corrected_to_is_suppressed_too(brand, tmp_path):
    # no record holds the corrected number: the erasure takes it from the correction, which it then deletes
    from siyu.customers.actions import correct_profile

    corrected = "13655556666"
    correct_profile(brand["ops"], brand["customer"], {"phone": corrected}, reason="客户更正")
    job = actions.request_erasure(brand["ops"], _deletion(brand).pk)
    assert job.status == Job.Status.DONE and job.result["clean"]
    later = write_taobao(tmp_path / "later.csv", [
        taobao_row(order="3001", buyer="new_buyer_1", name="某人", phone=f"'{corrected}", amount="9.00"),
    ])  # fmt: skip
    assert [f.suppressed for f in import_files([later], "tmall").files] == [1]
