"""The console page 预测与校准: calibration charts with their definitions, in Chinese first."""

import json

import pytest

pytestmark = pytest.mark.django_db


def _option(page: str, chart: str) -> dict:
    start = page.index(f'id="{chart}-option"')
    start = page.index(">", start) + 1
    return json.loads(page[start : page.index("</script>", start)])


def test_the_page_draws_reliability_lift_and_bgnbd_with_definitions(admin_client, predicted):
    response = admin_client.get("/predictions/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "预测与校准" in page and "可靠性曲线" in page and "十分位提升度" in page
    for chart in ("chart-reliability", "chart-lift", "chart-bgnbd"):
        assert f'data-chart="{chart}-option"' in page
    assert page.count('class="definition"') == 3 and "定义" in page
    check = predicted["report"]["calibration"]
    reliability = _option(page, "chart-reliability")
    points = reliability["series"][0]["data"]
    assert [p[2] for p in points] == [r["customers"] for r in check["reliability"]]
    assert reliability["series"][1]["data"] == [[0, 0], [1, 1]]  # the diagonal
    lift = _option(page, "chart-lift")
    assert lift["xAxis"]["data"] == [str(d) for d in range(1, 11)]
    assert lift["series"][0]["data"][0] == round(check["lift"][0]["lift"], 3)
    assert f"{check['auc']:.3f}" in page
    assert 'data-table="lift"' in page and "echarts.min.js" in page


def test_the_profile_shows_the_customers_predictions(admin_client, predicted):
    from siyu.segments.prediction_queries import predictions_of

    row = predictions_of(2)
    page = admin_client.get("/customers/2/").content.decode()
    assert "data-predictions" in page and f"未来 {row['horizon_days']} 天购买概率" in page
    assert f'data-prediction="p_purchase">{row["p_purchase"] * 100:.0f}%<' in page
    assert f'data-prediction="clv">¥{row["clv"]:,.2f}<' in page


def test_the_page_in_english(admin_client, predicted):
    admin_client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    page = admin_client.get("/predictions/").content.decode()
    assert "Predictions and calibration" in page and "Reliability curve" in page and "Lift by decile" in page


def test_before_any_prediction_the_page_says_how_to_compute_them(admin_client, warehouse):
    page = admin_client.get("/predictions/").content.decode()
    assert "siyu predict" in page and "data-chart" not in page


def test_guides_cannot_open_the_page(guide1_client, warehouse):
    assert guide1_client.get("/predictions/").status_code == 403


def test_the_navigation_links_the_page_for_analysts(admin_client, warehouse):
    assert 'href="/predictions/"' in admin_client.get("/").content.decode()


def test_the_navigation_has_no_link_for_guides(guide1_client, warehouse):
    assert 'href="/predictions/"' not in guide1_client.get("/").content.decode()


def test_a_calibration_or_clv_that_could_not_be_computed_is_explained_in_chinese(admin_client, predicted, monkeypatch):
    """The reasons stored with a run are the CLI's English (`siyu predict` prints them); the page says
    them in the operator's words instead."""
    from siyu.segments import prediction_queries

    real = prediction_queries.calibration

    def without_checks(as_of=None):
        run = real(as_of)
        run["report"]["calibration"] = {"not_available": "too little history to train: no snapshot before …"}
        run["report"].pop("bgnbd", None)
        run["report"]["clv"] = {"not_available": "BG/NBD needs customers with repeat purchases to fit"}
        return run

    monkeypatch.setattr(prediction_queries, "calibration", without_checks)
    page = admin_client.get("/predictions/").content.decode()
    assert "校准不可用：" in page or "校准不可用:" in page
    assert f"用最近 {real()['horizon_days']} 天检验预测" in page
    assert "购买过两次及以上的客户太少" in page
    assert "too little history" not in page and "BG/NBD needs" not in page
