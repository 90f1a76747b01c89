"""Import page: uploads, jobs, progress fragment, report, rejected rows; resolve; permissions; i18n assets."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import fake_jobs
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

pytestmark = pytest.mark.django_db

TAOBAO_CSV = (
    "订单编号,买家会员名,买家实际支付金额,订单状态,收货人姓名,收货地址,联系手机,订单创建时间,订单付款时间,宝贝标题,宝贝总数量\r\n"
    '="2001",tb_zhang,299.00,交易成功,张伟,上海 上海市 静安区 南京西路1号,\'13812345678,2026-03-01 10:00:00,2026-03-01 10:01:00,玫瑰精华水,1\r\n'
    '="2002",tb_li,88.00,交易关闭,李*,浙江省 杭州市 西湖区,139****1111,2026-03-02 11:00:00,,护手霜,1\r\n'
)


def text_of(response) -> str:
    return response.content.decode()


@pytest.fixture
def fake_runners(monkeypatch):
    from siyu.core import jobs

    monkeypatch.setitem(jobs._RUNNERS, "import", fake_jobs.run_import)
    monkeypatch.setitem(jobs._RUNNERS, "resolve", fake_jobs.run_resolve)
    fake_jobs.CALLS.clear()
    return fake_jobs


def upload(client, *files, source="tmall_flagship", fmt="auto", mapping=""):
    return client.post(
        "/import/",
        {"files": list(files), "source": source, "format": fmt, "mapping": mapping},
    )


def gbk_file(name="淘宝订单.csv"):
    return SimpleUploadedFile(name, TAOBAO_CSV.encode("gbk"), content_type="text/csv")


def test_import_page_renders_for_operators(operator_client):
    page = text_of(operator_client.get("/import/"))
    assert "导入渠道文件" in page
    assert 'enctype="multipart/form-data"' in page
    assert 'name="files"' in page and "multiple" in page
    for fmt in ("auto", "taobao", "jd", "douyin", "youzan", "wecom", "pos", "generic"):
        assert f'<option value="{fmt}"' in page
    assert 'id="resolve-button"' in page


@pytest.mark.parametrize("url", ["/import/", "/jobs/"])
def test_guides_cannot_reach_import_pages(guide1_client, url):
    assert guide1_client.get(url).status_code == 403


def test_guides_cannot_post_an_import_or_resolve(guide1_client, fake_runners):
    from siyu.core.models import Job

    assert upload(guide1_client, gbk_file()).status_code == 403
    assert guide1_client.post("/import/resolve/").status_code == 403
    assert not Job.objects.exists()


def test_upload_creates_a_job_and_shows_the_report(operator_client, staff, fake_runners):
    from siyu.core.models import Job

    youzan = SimpleUploadedFile(
        "youzan.xlsx", b"PK\x03\x04 not really", content_type="application/octet-stream"
    )
    response = upload(operator_client, gbk_file(), youzan, fmt="taobao", mapping="会员卡号=id:member_no\n")
    assert response.status_code == 302
    job = Job.objects.get()
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert job.kind == "import" and job.created_by == staff["operator"]
    assert job.params["source"] == "tmall_flagship"
    assert job.params["format"] == "taobao"
    assert job.params["mapping"] == {"会员卡号": "id:member_no"}
    # uploads are kept under UPLOADS_DIR/<uuid>/ with their names, bytes untouched
    paths = [Path(p) for p in job.params["paths"]]
    assert [p.name for p in paths] == ["淘宝订单.csv", "youzan.xlsx"]
    assert paths[0].parent.parent == Path(settings.UPLOADS_DIR)
    assert re.fullmatch(r"[0-9a-f]{32}", paths[0].parent.name)
    assert paths[0].read_bytes() == TAOBAO_CSV.encode("gbk")
    # the immediate backend ran it; the job page shows the final report
    job.refresh_from_db()
    assert job.status == "done"
    page = text_of(operator_client.get(response["Location"]))
    assert 'data-status="done"' in page
    assert "hx-get" not in page  # finished: no more polling
    assert re.search(r'data-report-value="rows_read">6<', page)
    assert re.search(r'data-report-value="imported">4<', page)
    assert re.search(r'data-report-value="rejected">2<', page)
    assert "淘宝订单.csv" in page and "youzan.xlsx" in page
    assert "data-rejected-link" in page
    assert "导入报告" in page


def test_rejected_rows_download_is_clear_for_the_pii_permission_masked_otherwise_and_audited(
    client, operator_client, staff, fake_runners, monkeypatch
):
    from siyu.core.models import AuditLog, Job
    from siyu.staff.models import Role

    upload(operator_client, gbk_file())
    job = Job.objects.get()
    url = f"/jobs/{job.pk}/rejected.csv?file=0"
    # stored sealed: nothing of the row is readable on disk
    stored = Path(job.result["files"][0]["rejected_file"])
    assert stored.parent == Path(settings.UPLOADS_DIR) / "rejected"
    assert b"13812345678" not in stored.read_bytes() and "张伟".encode() not in stored.read_bytes()
    assert stored.stat().st_mode & 0o777 == 0o600

    response = operator_client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert body.splitlines()[0] == "file,row,column,reason,订单编号,收货人姓名,联系手机,买家留言"
    assert "13812345678" in body and "张伟" in body and "南京西路" in body
    log = AuditLog.objects.get(action="download_rejected_rows")
    assert log.actor == staff["operator"] and log.target == f"job:{job.pk}" and log.detail["clear"] is True

    # any account with the PII permission may read it (not only whoever ran the import)
    from siyu.staff.actions import create_user

    other = create_user("operator2", "pw", "operator")
    client.force_login(other)
    assert client.get(url).status_code == 200
    client.force_login(staff["guide1"])
    assert client.get(url).status_code == 403

    # an importer without the PII permission gets the masked file: unmapped columns left out
    monkeypatch.setattr("siyu.staff.queries.PII_ROLES", {Role.ADMIN})
    client.force_login(other)
    page = text_of(client.get(f"/jobs/{job.pk}/"))
    assert "data-rejected-link" in page
    assert "已脱敏" in page
    body = b"".join(client.get(url).streaming_content).decode("utf-8-sig")
    assert body.splitlines()[0] == "file,row,column,reason,订单编号,收货人姓名,联系手机"
    assert "138****5678" in body and "张*" in body
    assert "13812345678" not in body and "张伟" not in body and "南京西路" not in body
    assert AuditLog.objects.filter(action="download_rejected_rows").count() == 3
    assert AuditLog.objects.filter(action="download_rejected_rows", detail__clear=False).count() == 1


def test_rejected_file_outside_siyu_home_is_not_served(admin_client, staff, tmp_path):
    from siyu.core.models import Job

    outside = tmp_path / "secret.csv"
    outside.write_text("x")
    job = Job.objects.create(
        kind="import",
        status="done",
        created_by=staff["admin"],
        result={"rejected": 1, "rejected_file": str(outside)},  # a job from before rejected rows were sealed
    )
    assert admin_client.get(f"/jobs/{job.pk}/rejected.csv").status_code == 404


def test_upload_refuses_other_file_types(operator_client, fake_runners):
    from siyu.core.models import Job

    bad = SimpleUploadedFile("orders.pdf", b"%PDF", content_type="application/pdf")
    response = upload(operator_client, bad)
    assert response.status_code == 400
    assert "orders.pdf" in text_of(response)
    assert not Job.objects.exists()


def test_upload_needs_a_valid_source_name(operator_client, fake_runners):
    response = upload(operator_client, gbk_file(), source="my shop")
    assert response.status_code == 400


def test_resolve_button_starts_a_resolve_job(operator_client, fake_runners):
    from siyu.core.models import Job

    response = operator_client.post("/import/resolve/")
    job = Job.objects.get()
    assert job.kind == "resolve"
    assert response["Location"] == f"/jobs/{job.pk}/"
    page = text_of(operator_client.get(response["Location"]))
    assert "识别身份" in page
    assert re.search(r'<dt data-key="merges">合并</dt><dd>1</dd>', page)


def test_progress_fragment_polls_until_the_job_finishes(operator_client, staff):
    from siyu.core.models import Job

    job = Job.objects.create(
        kind="import",
        status="running",
        progress_done=5,
        progress_total=10,
        message="读取 淘宝订单.csv",
        created_by=staff["operator"],
    )
    fragment = text_of(operator_client.get(f"/jobs/{job.pk}/progress/"))
    assert fragment.lstrip().startswith('<section id="job-progress"')
    assert f'hx-get="/jobs/{job.pk}/progress/"' in fragment
    assert 'hx-trigger="load delay:500ms"' in fragment
    assert 'aria-valuenow="50"' in fragment and "width: 50%" in fragment
    assert "读取 淘宝订单.csv" in fragment
    assert "<html" not in fragment
    Job.objects.filter(pk=job.pk).update(status="failed", error="ValueError: bad header")
    fragment = text_of(operator_client.get(f"/jobs/{job.pk}/progress/"))
    assert "hx-get" not in fragment
    assert "ValueError: bad header" in fragment


def test_jobs_list(operator_client, staff, fake_runners):
    upload(operator_client, gbk_file())
    operator_client.post("/import/resolve/")
    page = text_of(operator_client.get("/jobs/"))
    assert page.count('class="status status-done"') == 2
    assert "tmall_flagship" in page


def test_unknown_job_is_404(operator_client):
    assert operator_client.get("/jobs/00000000-0000-0000-0000-000000000000/").status_code == 404


@pytest.mark.skipif(
    importlib.util.find_spec("siyu.ingest.actions") is None,
    reason="the importer (siyu.ingest.actions) is not there yet",
)
def test_upload_through_the_real_importer(operator_client, warehouse):
    from siyu.core.models import Job

    response = upload(operator_client, gbk_file(), fmt="auto")
    job = Job.objects.get()
    assert job.status == "done", job.error
    assert job.result["rows_read"] == 2
    page = text_of(operator_client.get(response["Location"]))
    assert re.search(r'data-report-value="rows_read">2<', page)


# --- assets and translations -----------------------------------------------------------------------


CONSOLE = Path(__file__).resolve().parents[2] / "src" / "siyu" / "console"


def test_htmx_is_vendored_and_nothing_loads_from_a_cdn():
    assert (CONSOLE / "static/siyu/vendor/htmx.min.js").stat().st_size > 30_000
    for template in (CONSOLE / "templates").rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"""(src|href)=["']https?://""", text), template


def test_compiled_chinese_catalogue_is_shipped():
    from django.utils import translation

    mo = CONSOLE.parent / "locale/zh_Hans/LC_MESSAGES/django.mo"
    assert mo.exists()
    with translation.override("zh-hans"):
        assert translation.gettext("Customers") == "客户"
        assert translation.gettext("Import channel files") == "导入渠道文件"


def test_static_files_are_served_by_the_static_handler():
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.wsgi import get_wsgi_application
    from django.test import RequestFactory

    handler = StaticFilesHandler(get_wsgi_application())
    request = RequestFactory().get("/static/siyu/console.css")
    response = handler.get_response(request)
    assert response.status_code == 200
