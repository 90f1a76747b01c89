"""Each analytics page through the API (token auth, JSON, CSV/XLSX) and in the console (charts with their
definitions, export, spend forms, group upload)."""

from __future__ import annotations

import io
import json

import pytest
from django.test import Client

from siyu.analytics.definitions import DEFINITIONS
from siyu.analytics.queries import PAGES
from siyu.analytics.views import TABLE_TITLES
from siyu.api.actions import create_token

pytestmark = pytest.mark.django_db
MARCH = {"date_from": "2026-03-01", "date_to": "2026-03-31"}


@pytest.fixture
def people(db):
    from siyu.staff.actions import create_user, ensure_store

    store = ensure_store("SH01", "上海南京西路店", "上海")
    return {
        "operator": create_user("operator", "pw-oper-1", "operator"),
        "guide": create_user("guide", "pw-guide-1", "guide", store=store),
    }


def api(user) -> Client:
    return Client(headers={"Authorization": f"Bearer {create_token(user, 'tests')}"})


def test_every_page_in_the_api(brand, people):
    client = api(people["operator"])
    listed = client.post(
        "/api/analytics-customer-lists",
        data=json.dumps({"name": "vip", "customer_ids": [1, 6]}),
        content_type="application/json",
        headers={"Idempotency-Key": "list-1"},
    )
    assert listed.status_code == 201 and listed.json()["customers"] == 2
    for page in PAGES:
        params = {**MARCH, **({"list": listed.json()["list_id"]} if page == "repurchase" else {})}
        response = client.get(f"/api/analytics/{page}", params)
        assert response.status_code == 200, (page, response.content)
        body = response.json()
        assert body["page"] == page and body["filters"]["date_from"] == "2026-03-01" and body["tables"]
    funnel = client.get("/api/analytics/funnel", {**MARCH, "channel": ["pos", "jd"]}).json()
    assert [r["channel"] for r in funnel["tables"]["funnel"]] == ["jd", "pos", "(all)"]
    repurchase = client.get("/api/analytics/repurchase", {**MARCH, "list": listed.json()["list_id"]}).json()
    assert repurchase["details"]["lift_points"] == 50.0
    assert client.get("/api/analytics/repurchase", MARCH).status_code == 400
    assert (
        client.get("/api/analytics/funnel", {"date_from": "2026-04-01", "date_to": "2026-03-01"}).status_code
        == 400
    )
    assert client.get("/api/analytics/nonsense").status_code in (404, 422)


def test_api_exports_and_spend(brand, people):
    client = api(people["operator"])
    csv = client.get("/api/analytics/gmv_tree/export", {**MARCH, "format": "csv", "table": "contributions"})
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("channel,gmv_change,decomposed") and lines[-1].startswith("(all),780.0,True")
    xlsx = client.get("/api/analytics/cohorts/export", {**MARCH, "format": "xlsx"})
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_filelike(io.BytesIO(xlsx.content))
    assert book.sheet_names == [
        "retention_by_month",
        "ltv_by_month",
        "retention_by_channel",
        "ltv_by_channel",
    ]

    body = {"channel": "pos", "date_from": "2026-03-01", "date_to": "2026-03-31", "amount": "50.00"}
    added = client.post(
        "/api/analytics-spend",
        data=json.dumps(body),
        content_type="application/json",
        headers={"Idempotency-Key": "s1"},
    )
    assert added.status_code == 201
    again = client.post(
        "/api/analytics-spend",
        data=json.dumps(body),
        content_type="application/json",
        headers={"Idempotency-Key": "s1"},
    )
    assert again.json() == added.json()  # replayed, not a second row
    overlap = client.post(
        "/api/analytics-spend",
        data=json.dumps(body),
        content_type="application/json",
        headers={"Idempotency-Key": "s2"},
    )
    assert overlap.status_code == 400 and "overlaps" in overlap.json()["detail"]
    roi = client.get("/api/analytics/channel_roi", MARCH).json()
    pos = next(r for r in roi["tables"]["channels"] if r["channel"] == "pos")
    assert pos["cac"] == "50.00" and pos["roi"] == 1.6 and pos["payback_month"] == 0
    assert [s["amount"] for s in client.get("/api/analytics-spend").json()] == ["50.00"]
    deleted = client.delete(f"/api/analytics-spend/{added.json()['id']}", headers={"Idempotency-Key": "d1"})
    assert deleted.json() == {"deleted": True}


def test_analytics_is_for_operators(brand, people):
    assert api(people["guide"]).get("/api/analytics/funnel").status_code == 403
    client = Client()
    client.force_login(people["guide"])
    assert client.get("/analytics/funnel/").status_code == 403
    assert Client().get("/api/analytics/funnel").status_code == 401


def test_console_pages_render_charts_with_definitions(brand, people, settings):
    settings.LANGUAGE_CODE = "en"
    client = Client()
    client.force_login(people["operator"])
    for page in PAGES:
        response = client.get(
            f"/analytics/{page}/", {**MARCH, **({"tag": "nobody"} if page == "repurchase" else {})}
        )
        assert response.status_code == 200, page
        html = response.content.decode()
        if page == "repurchase":
            assert "no tag" in html and str(DEFINITIONS["repurchase"])[:40] in html
            continue
        assert 'class="chart"' in html and "Definition" in html, page
        assert 'class="definition"' in html
    html = client.get("/analytics/gmv_tree/", MARCH).content.decode()
    assert str(DEFINITIONS["gmv_contributions"])[:60] in html and 'id="chart-gmv-tree-option"' in html
    # contributions are yuan, the conversion factor's too: never a percent
    contributions = html[html.index(str(TABLE_TITLES["contributions"])):]
    contributions = contributions[: contributions.index("</table>")]
    assert "%" not in contributions and "780.00" in contributions
    formula = client.get("/analytics/formula/", MARCH).content.decode()
    assert 'data-factor="referral_rate"' in formula and "No referral data is collected yet" in formula
    export = client.get("/analytics/funnel/", {**MARCH, "format": "csv", "table": "pool"})
    assert (
        export["Content-Disposition"] == 'attachment; filename="siyu-funnel-2026-03-01-2026-03-31-pool.csv"'
    )
    assert client.get("/analytics/", follow=True).redirect_chain[-1][0] == "/analytics/funnel/"
    assert client.get("/analytics/nonsense/").status_code == 404


def test_console_spend_forms_and_group_upload(brand, people, settings, tmp_path):
    settings.UPLOADS_DIR = tmp_path
    client = Client()
    client.force_login(people["operator"])
    form = {
        "channel": "douyin",
        "date_from": "2026-02-15",
        "date_to": "2026-03-16",
        "amount": "600",
        "query": "date_from=2026-03-01&date_to=2026-03-31",
    }
    response = client.post("/analytics/spend/", form)
    assert response.status_code == 302 and response["Location"].endswith(
        "?date_from=2026-03-01&date_to=2026-03-31"
    )
    html = client.get(response["Location"]).content.decode()
    assert "320.00" in html  # 16 of the 30 days fall in March
    bad = client.post("/analytics/spend/", {**form, "amount": "-5"}, follow=True).content.decode()
    assert "amount must be between" in bad
    upload = io.BytesIO(b"customer_id\n1\n6\n")
    upload.name = "vip.csv"
    response = client.post(
        "/analytics/customer-lists/", {"file": upload, "query": "date_from=2026-03-01&date_to=2026-03-31"}
    )
    assert response.status_code == 302 and "list=" in response["Location"]
    html = client.get(response["Location"]).content.decode()
    assert 'data-group-size="2"' in html and 'id="chart-repurchase"' in html


def test_page_8_by_segment(brand, people, client):
    from siyu.segments.actions import refresh_segment, save_segment

    segment = save_segment(people["operator"], "vip", customer_ids=[1, 6])
    refresh_segment(segment.pk)
    by_api = api(people["operator"]).get("/api/analytics/repurchase", {**MARCH, "segment": segment.pk}).json()
    assert by_api["details"]["lift_points"] == 50.0  # the same group as the uploaded list above
    client.force_login(people["operator"])
    html = client.get("/analytics/repurchase/", {**MARCH, "segment": segment.pk}).content.decode()
    assert f'<option value="{segment.pk}" selected>vip</option>' in html and 'data-group-size="2"' in html
