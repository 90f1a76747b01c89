"""Uploads through the console: a request larger than UPLOAD_MAX_MB is refused before its body is read, and
an upload with no usable file (a browser that sent only `../`) is refused instead of becoming an empty job."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

pytestmark = pytest.mark.django_db

BOUNDARY = "----siyu-test-boundary"


def multipart(fields: dict[str, str], files: list[tuple[str, bytes]]) -> bytes:
    parts = []
    for name, value in fields.items():
        parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for filename, content in files:
        head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{filename}"\r\n'
                "Content-Type: text/csv\r\n\r\n")  # fmt: skip
        parts.append(head.encode() + content + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def post_raw(client, body: bytes):
    return client.generic("POST", "/import/", body, content_type=f"multipart/form-data; boundary={BOUNDARY}")


def test_an_upload_whose_only_file_is_named_dot_dot_slash_is_refused(operator_client):
    from siyu.core.models import Job

    body = multipart({"source": "tmall", "format": "auto", "mapping": ""}, [("../", b"a,b\n1,2\n")])
    response = post_raw(operator_client, body)
    assert response.status_code == 400
    assert "没有收到文件名可用的文件" in response.content.decode()
    assert not Job.objects.exists()


def test_an_upload_with_one_usable_file_among_unusable_names_keeps_the_usable_one(operator_client, monkeypatch):
    from siyu.core import jobs
    from siyu.core.models import Job

    monkeypatch.setitem(jobs._RUNNERS, "import", lambda job, progress: {"files": []})
    body = multipart({"source": "tmall", "format": "auto", "mapping": ""},
                     [("../", b"x\n"), ("../../orders.csv", b"a,b\n1,2\n")])  # fmt: skip
    assert post_raw(operator_client, body).status_code == 302
    paths = Job.objects.get().params["paths"]
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["orders.csv"]


def test_an_import_job_of_no_files_fails_with_a_message(db):
    from siyu.core.actions import create_job
    from siyu.core.owner import execute_job

    job = execute_job(create_job("import", {"paths": [], "source": "tmall", "format": "auto", "mapping": {}}, None))
    assert job.status == "failed"
    assert "没有可导入的文件" in job.error


def test_an_upload_larger_than_the_limit_is_refused_before_it_is_read(operator_client, settings, monkeypatch):
    from siyu.core.models import Job

    settings.UPLOAD_MAX_MB = 0.01  # 10 KB
    read = []
    monkeypatch.setattr("django.http.request.HttpRequest._load_post_and_files", lambda self: read.append(1))
    upload = SimpleUploadedFile("big.csv", b"a,b\n" + b"1,2\n" * 5000, content_type="text/csv")
    response = operator_client.post("/import/", {"files": [upload], "source": "tmall", "format": "auto"})
    assert response.status_code == 413
    page = response.content.decode()
    assert "一次最多上传 0.01 MB" in page, page[page.find("data-detail"):][:200]
    assert read == [] and not Job.objects.exists()


def test_an_api_request_larger_than_the_limit_gets_413_json(client, settings):
    settings.UPLOAD_MAX_MB = 0.001
    response = client.post("/api/orders", b"x" * 5000, content_type="application/json")
    assert response.status_code == 413
    assert "一次最多上传" in response.json()["detail"]
