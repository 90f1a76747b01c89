import csv
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from conftest import T0
from siyu.core.models import AuditLog, Job
from siyu.identity.actions import resolve_identities
from siyu.identity.queries import export_identities


def _read_xlsx(path):
    from python_calamine import CalamineWorkbook

    return CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()


def _people(rows):
    rows.record("tmall|1001", seen=2)
    rows.ident("tmall|1001", "taobao_buyer", "alice")
    rows.record("tmall|1002", seen=3)
    rows.ident("tmall|1002", "taobao_buyer", "alice")
    rows.ident("tmall|1002", "phone", "+8613800000001")
    rows.record("store-pos|M7", kind="member", seen=0)
    rows.ident("store-pos|M7", "phone", "+8613800000001")
    rows.record("store-pos|M8", kind="member", seen=1)
    rows.order("tmall|1001", amount="12.50", at=T0)


def test_export_identities_writes_one_row_per_record_with_exact_ids(rows, tmp_path):
    _people(rows)
    resolve_identities()
    rows.record("youzan|Y1", seen=9)  # imported after the last resolve: listed with an empty id

    out = tmp_path / "identities.csv"
    assert export_identities(out) == 5
    with out.open(newline="", encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    assert lines == [
        ["source", "record_id", "customer_id"],
        ["store-pos", "M7", "1"],
        ["store-pos", "M8", "2"],
        ["tmall", "1001", "1"],
        ["tmall", "1002", "1"],
        ["youzan", "Y1", ""],
    ]

    xlsx = tmp_path / "identities.xlsx"
    assert export_identities(xlsx) == 5
    sheet = _read_xlsx(xlsx)
    assert sheet[0] == ["source", "record_id", "customer_id"]
    assert sheet[1] == ["store-pos", "M7", 1]
    assert len(sheet) == 6


@pytest.mark.django_db
def test_siyu_resolve_json_prints_the_report_on_the_last_line(rows):
    _people(rows)
    out = StringIO()
    call_command("resolve", "--json", stdout=out)
    report = json.loads(out.getvalue().strip().splitlines()[-1])
    assert {"run_id", "records", "customers", "new_customers", "merges", "quarantined", "seconds"} <= set(
        report
    )
    assert (report["records"], report["customers"], report["new_customers"]) == (4, 2, 2)
    job = Job.objects.get(kind="resolve")
    assert job.status == Job.Status.DONE and job.result["run_id"] == report["run_id"]

    human = StringIO()
    call_command("resolve", stdout=human)
    assert "Resolved 4 records into 2 customers" in human.getvalue()
    assert "0 new, 0 merged" in human.getvalue()

    # the thresholds reach the run (and a changed setting makes it a full one)
    out = StringIO()
    call_command("resolve", "--json", "--match-threshold", "0.97", "--shared-evidence-threshold", "0.6", stdout=out)
    report = json.loads(out.getvalue().strip().splitlines()[-1])
    assert report["mode"] == "full"
    assert (report["probabilistic"]["match_threshold"], report["probabilistic"]["shared_evidence_threshold"]) == (0.97, 0.6)


@pytest.mark.django_db
def test_siyu_resolve_fails_with_the_error_on_stderr(rows, monkeypatch):
    import siyu.identity.actions as actions
    from siyu.core.errors import SiyuError

    def broken(progress=None, **options):
        raise SiyuError("the warehouse is broken")

    monkeypatch.setattr(actions, "resolve_identities", broken)
    err = StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("resolve", stderr=err)
    assert exit_info.value.code == 1
    assert "the warehouse is broken" in err.getvalue()


@pytest.mark.django_db
def test_siyu_export_writes_files_and_audits(rows, tmp_path):
    _people(rows)
    resolve_identities()
    out = StringIO()
    call_command("export", "identities", str(tmp_path / "ids.csv"), stdout=out)
    assert "Wrote 4 identities rows" in out.getvalue()

    call_command("export", "customers", str(tmp_path / "customers.csv"), stdout=StringIO())
    with (tmp_path / "customers.csv").open(encoding="utf-8") as handle:
        customers = list(csv.DictReader(handle))
    assert [c["customer_id"] for c in customers] == ["1", "2"]
    first = customers[0]
    assert (first["sources"], first["orders"], first["spend"], first["aov"]) == (
        "store-pos|tmall",
        "1",
        "12.50",
        "12.50",
    )
    assert (first["stage"], first["first_purchase_at"]) == ("churned", "2025-01-01 08:00:00")  # Asia/Shanghai
    assert "phone_hash" not in first and "name_hash" not in first and "pii_record_key" not in first

    call_command("export", "customers", str(tmp_path / "customers.xlsx"), stdout=StringIO())
    assert len(_read_xlsx(tmp_path / "customers.xlsx")) == 3

    audits = list(AuditLog.objects.filter(action="export").order_by("at"))
    assert [(a.detail["what"], a.detail["rows"], a.detail["format"]) for a in audits] == [
        ("identities", 4, "csv"),
        ("customers", 2, "csv"),
        ("customers", 2, "xlsx"),
    ]
    assert audits[0].target == str(tmp_path / "ids.csv")


@pytest.mark.django_db
def test_siyu_export_goes_through_a_job_when_the_lead_registers_it(rows, tmp_path, monkeypatch):
    _people(rows)
    resolve_identities()
    call_command("export", "identities", str(tmp_path / "ids.csv"), stdout=StringIO())
    job = Job.objects.get(kind="export")
    assert job.status == Job.Status.DONE and job.result["rows"] == 4
    assert AuditLog.objects.filter(action="export").count() == 1


@pytest.mark.django_db
def test_siyu_export_rejects_bad_paths(rows, tmp_path):
    with pytest.raises(CommandError, match="must end in .csv or .xlsx"):
        call_command("export", "identities", str(tmp_path / "ids.txt"))
    with pytest.raises(CommandError, match="does not exist"):
        call_command("export", "identities", str(tmp_path / "missing" / "ids.csv"))


@pytest.mark.django_db
def test_siyu_export_explains_a_busy_warehouse(rows, tmp_path, monkeypatch):
    import siyu.warehouse.connection as connection
    from siyu.warehouse import WarehouseBusy

    def busy(*args, **kwargs):
        raise WarehouseBusy("the warehouse is in use by another Siyu process")

    monkeypatch.setattr(connection, "raw_connection", busy)
    err = StringIO()
    with pytest.raises(SystemExit):
        call_command("export", "identities", str(tmp_path / "ids.csv"), stderr=err)
    assert "in use by another siyu command" in err.getvalue()
    assert not (tmp_path / "ids.csv").exists()


INJECTION = '=CMD|" /C calc"!A0'


@pytest.mark.django_db
def test_csv_exports_neutralise_formulas_and_keep_numbers_numbers(rows, tmp_path):
    """siyu export's CSVs (the DuckDB COPY path and the one through Python for local times) follow
    siyu.core.spreadsheet.formula_safe: a text cell starting with = + - @ tab or CR gets a leading
    apostrophe, a plain number (a negative amount too) is left as it is; XLSX holds text cells as they are."""
    _people(rows)
    rows.record(f"tmall|{INJECTION}", seen=4)
    rows.record("tmall|-42", seen=5)  # an id that is a plain number: a spreadsheet reads a number
    rows.record("tmall|@SUM(A1)", seen=6)
    rows.record("+tab|\tx", seen=7)
    rows.order("store-pos|M8", order_key="store-pos|R1", amount="-8.00", at=T0)
    resolve_identities()

    call_command("export", "identities", str(tmp_path / "ids.csv"), stdout=StringIO())
    with (tmp_path / "ids.csv").open(newline="", encoding="utf-8") as handle:
        cells = [c for row in csv.reader(handle) for c in row]
    assert "'" + INJECTION in cells and INJECTION not in cells
    assert "-42" in cells and "'@SUM(A1)" in cells and "'+tab" in cells and "'\tx" in cells
    assert not [c for c in cells if c[:1] in ("=", "@", "\t", "\r") or (c[:1] in "+-" and c not in ("-42",))]

    call_command("export", "customers", str(tmp_path / "customers.csv"), stdout=StringIO())
    with (tmp_path / "customers.csv").open(newline="", encoding="utf-8") as handle:
        customers = list(csv.DictReader(handle))
    spends = {c["customer_id"]: c["spend"] for c in customers}
    assert "-8.00" in spends.values()  # a negative amount stays a number
    assert all(not c["sources"].startswith(("+", "'")) or c["sources"].startswith("'+") for c in customers)

    call_command("export", "identities", str(tmp_path / "ids.xlsx"), stdout=StringIO())
    sheet = [c for row in _read_xlsx(tmp_path / "ids.xlsx") for c in row]
    assert INJECTION in sheet  # a text cell in XLSX, never a formula: kept as it is


def test_formula_safe_columns_equal_the_python_rule(warehouse):
    """The engine's version of the rule (siyu.warehouse.exports.formula_safe_columns) equals the one in
    Python (siyu.core.spreadsheet.formula_safe) on every text hypothesis makes."""
    import ibis
    import pyarrow as pa
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from siyu.core.spreadsheet import formula_safe
    from siyu.warehouse import backend
    from siyu.warehouse.exports import formula_safe_columns

    starts = st.sampled_from(["=", "+", "-", "@", "\t", "\r", "'", "1", "a", ".", " ", "张"])
    texts = st.one_of(st.none(), st.builds(lambda a, b: a + b, starts, st.text(max_size=8)),
                      st.from_regex(r"[+-]?[0-9]{0,3}(\.[0-9]{0,2})?([eE][+-]?[0-9]{1,2})?", fullmatch=True))  # fmt: skip

    @settings(max_examples=150, deadline=None)
    @given(values=st.lists(texts, min_size=1, max_size=20))
    def check(values):
        table = ibis.memtable(pa.table({"v": pa.array(values, pa.string())}))
        got = backend().execute(formula_safe_columns(table))["v"].tolist()
        expected = [formula_safe(v) for v in values]
        assert [None if g is None or g != g else g for g in got] == expected

    check()
