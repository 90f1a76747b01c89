"""Every word an operator sees is Chinese in the Chinese console (English when switched), and never a field
name or a code in either language: an admin visits every console page of a brand with something on every
page (tests/console/words_brand.py), in zh-Hans and in English, and reads the page's visible text (tags,
scripts and styles stripped; attributes a person reads kept; the texts of its charts added).

In Chinese, a page fails on any word in Latin letters but the short list of terms the glossary keeps
(GMV, ROI, SOP…), ids and numbers; in English, on a raw code: a snake_case token, a `kind:value` code, a
field name. The list of pages comes from the URLconf, so a new page without an entry here fails."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import translation
from words_brand import build_brand

pytestmark = pytest.mark.django_db

# --- what a person reads on a page ----------------------------------------------------------------------

READ_ATTRIBUTES = ("placeholder", "title", "aria-label", "alt")
SKIPPED_ELEMENTS = ("script", "style", "template")
VOID_ELEMENTS = ("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr")
# the keys of an ECharts option whose strings are drawn: names of series, data and nodes, titles, categories
CHART_TEXT_KEYS = ("name", "text", "data", "label")


class VisibleText(HTMLParser):
    """The text a person reads: text outside scripts and styles, the attributes read aloud or shown on
    hover, the value of a button, the strings an ECharts option (a json_script "…-option") draws and the
    words the segment builder shows (its json_script "rule-catalog").

    Left out on purpose: what the page marks as not to be translated (translate="no": the rule and step
    JSON an operator edits as code) and text the page marks as another language (lang="…": the language
    switch says "English" in the Chinese console)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.open: list[tuple[str, bool]] = []  # (tag, skipped) of the open elements
        self.json: tuple[str, list[str]] | None = None
        self.language = ""

    def skipping(self) -> bool:
        return any(skipped for _, skipped in self.open)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("type") == "application/json":
            self.json = (attrs.get("id") or "", [])
            return
        if tag in VOID_ELEMENTS:
            if not self.skipping():
                self._attributes(tag, attrs)
            return
        if tag == "html":
            self.language = attrs.get("lang", "")
        other_language = tag != "html" and "lang" in attrs and attrs["lang"] != self.language
        skipped = tag in SKIPPED_ELEMENTS or attrs.get("translate") == "no" or other_language
        self.open.append((tag, skipped))
        if not self.skipping():
            self._attributes(tag, attrs)

    def _attributes(self, tag, attrs):
        self.parts += [attrs[name] for name in READ_ATTRIBUTES if attrs.get(name)]
        if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
            self.parts.append(attrs["value"])

    def handle_endtag(self, tag):
        if tag == "script" and self.json is not None:
            name, chunks = self.json
            option = json.loads("".join(chunks))
            if name.endswith("-option"):
                self.parts += chart_texts(option)
            elif name == "rule-catalog":
                self.parts += catalog_texts(option)
            self.json = None
            return
        while self.open:
            open_tag, _ = self.open.pop()
            if open_tag == tag:
                break

    def handle_data(self, data):
        if self.json is not None:
            self.json[1].append(data)
        elif not self.skipping() and data.strip():
            self.parts.append(data)


def chart_texts(option, key: str | None = None) -> list[str]:
    if isinstance(option, dict):
        return [t for k, v in option.items() for t in chart_texts(v, k)]
    if isinstance(option, list):
        return [t for item in option for t in chart_texts(item, key)]
    if isinstance(option, str) and key in CHART_TEXT_KEYS:
        return [option]
    return []


def catalog_texts(catalog: dict) -> list[str]:
    """What the segment builder (siyu/segments/static/siyu/segment_builder.js) writes on the page: its
    texts, the fields' groups, labels, notes and choices, and the known values of the conditions (a pair
    is [value, label])."""
    shown = lambda options: [o[1] if isinstance(o, list) else o for o in options]  # noqa: E731
    texts = [
        t for v in catalog.get("text", {}).values() for t in (v.values() if isinstance(v, dict) else [v])
    ]
    for f in catalog["fields"]:
        texts += [f["group"], f["label"], f.get("note") or "", *shown(f["choices"])]
    for key in ("sources", "event_types", "stores", "guides", "consent_channels", "consent_statuses"):
        texts += shown(catalog.get(key, []))
    return [t for t in texts if t]


def visible_text(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    return [" ".join(part.split()) for part in parser.parts]


# --- what may not be there --------------------------------------------------------------------------------

# Terms the glossary and the operators keep in Latin letters; file and text formats; the names of the
# statistical methods the definitions cite.
KEPT_TERMS = {
    "GMV", "ROI", "SOP", "UGC", "AIPL", "RFM", "CLV", "LTV", "AOV", "CAC", "ID", "API", "SKU", "Webhook",
    "CSV", "XLSX", "XLS", "TXT", "JSON", "PNG", "PDF", "JPEG", "GIF", "WebP", "MB", "GBK", "UTF-8", "POS",
    "BG", "NBD", "Gamma-Gamma", "AUC", "Brier", "Newcombe", "Wilson", "LMDI", "ln",
    # what the providers' own consoles call the settings an operator copies from them, and protocols
    "CorpID", "AgentId", "Secret", "Token", "EncodingAESKey", "AppID", "AccessKey", "SecretId", "SecretKey",
    "SdkAppId", "SMTP", "SSL", "TLS", "STARTTLS", "URL",
    "TD",  # the reply that unsubscribes from Chinese SMS
}  # fmt: skip
URL_OR_EMAIL = re.compile(r"(?:https?://|/)[^\s]*|[\w.*+-]+@[\w.-]+")
# {name}, {product}…: the variables of a script or a step's text, written as the operator writes them
SCRIPT_VARIABLE = re.compile(r"\{[a-z_]+\}")
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:[:.\-][A-Za-z0-9_]+)*")
# letters with digits are ids and symbols (M1 a cohort month, SH01 a store code, s1 a step id)
ID_LIKE = re.compile(r"^(?=.*\d)[A-Za-z0-9_\-.:]+$")
SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
KIND_VALUE = re.compile(r"\b[a-z][a-z_]*:[a-z][a-z_]*\b")


def _words(text: str) -> list[str]:
    return LATIN_WORD.findall(SCRIPT_VARIABLE.sub(" ", URL_OR_EMAIL.sub(" ", text)))


def english_in_chinese(texts: list[str], data: set[str]) -> list[str]:
    """Latin-letter words of a Chinese page but the kept terms, the brand's own data, ids and single
    letters (a symbol: R, F and M scores, N days, p)."""
    found = []
    for text in texts:
        for word in _words(text):
            if word in KEPT_TERMS or word in data or len(word) == 1:
                continue
            if ID_LIKE.match(word) and not SNAKE.fullmatch(word):
                continue
            found.append(f"{word!r} in {text!r}")
    return found


def codes_in_english(texts: list[str], data: set[str]) -> list[str]:
    found = []
    for text in texts:
        clean = SCRIPT_VARIABLE.sub(" ", URL_OR_EMAIL.sub(" ", text))
        for word in SNAKE.findall(clean) + KIND_VALUE.findall(clean):
            if word not in data:
                found.append(f"{word!r} in {text!r}")
    return found


# --- every page -------------------------------------------------------------------------------------------


def console_url_names() -> set[str]:
    def walk(patterns, namespace):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, p.namespace or namespace)
            elif isinstance(p, URLPattern) and namespace == "console":
                yield p.name

    return set(walk(get_resolver().url_patterns, None))


def _analytics(b):
    from siyu.analytics.queries import PAGES as ANALYTICS

    return [("get", f"/analytics/{page}/", {"list": b.list_id} if page == "repurchase" else {})
            for page in ANALYTICS]  # fmt: skip


def _step_fields(b):
    from siyu.engagement.journeys.definitions import GROUP_STEP_TYPES, STEP_TYPES

    return [*(("get", f"/engagement/journeys/{b.journey_id}/step-fields/", {"type": t}) for t in STEP_TYPES),
            *(("get", f"/engagement/journeys/{b.group_journey_id}/step-fields/", {"type": t})
              for t in GROUP_STEP_TYPES)]  # fmt: skip


# url name -> the requests that show its page(s) on the brand
PAGES = {
    "dashboard": lambda b: [("get", "/", {})],
    "customers": lambda b: [("get", "/customers/", {})],
    "customer": lambda b: [("get", f"/customers/{b.customer_id}/", {})],
    "identity_review": lambda b: [("get", "/identity/review/", {})],
    "identity_quarantine": lambda b: [("get", "/identity/quarantine/", {})],
    "import": lambda b: [("get", "/import/", {})],
    "jobs": lambda b: [("get", "/jobs/", {})],
    "job": lambda b: [("get", f"/jobs/{job}/", {}) for job in b.job_ids],
    "job_progress": lambda b: [("get", f"/jobs/{job}/progress/", {}) for job in b.job_ids],
    "analytics_index": lambda b: [],  # a redirect to the first analytics page
    "analytics": _analytics,
    "segments": lambda b: [("get", "/segments/", {})],
    "segment_new": lambda b: [("get", "/segments/new/", {})],
    "segment": lambda b: [("get", f"/segments/{b.segment_id}/", {})],
    "segment_edit": lambda b: [("get", f"/segments/{b.segment_id}/edit/", {})],
    "segment_preview": lambda b: [("post", "/segments/preview/", {"rule": '{"field": "orders_total", "op": ">=", "value": 1}'})],
    "predictions": lambda b: [("get", "/predictions/", {})],
    "engagement_outbox": lambda b: [("get", "/engagement/outbox/", {})],
    "engagement_channels": lambda b: [("get", "/engagement/channels/", {})],
    "engagement_policy": lambda b: [("get", "/engagement/policy/", {})],
    "journeys": lambda b: [("get", "/engagement/journeys/", {})],
    "journey_new": lambda b: [("get", "/engagement/journeys/new/", {})],
    "journey": lambda b: [("get", f"/engagement/journeys/{b.journey_id}/", {}),
                          ("get", f"/engagement/journeys/{b.group_journey_id}/", {})],
    "journey_edit": lambda b: [("get", f"/engagement/journeys/{b.journey_id}/edit/", {}),
                               ("get", f"/engagement/journeys/{b.group_journey_id}/edit/", {})],
    "journey_step_fields": _step_fields,
    "journey_lift": lambda b: [("get", f"/engagement/journeys/{b.journey_id}/lift/", {})],
    "engagement_content": lambda b: [("get", "/engagement/content/", {}),
                                     ("get", "/engagement/content/", {"tab": "materials"})],
    "engagement_tasks": lambda b: [("get", "/engagement/tasks/", {})],
    "engagement_guide_report": lambda b: [("get", "/engagement/tasks/report/", {})],
    "community_groups": lambda b: [("get", "/community/groups/", {})],
    "community_group": lambda b: [("get", f"/community/groups/{b.group_id}/", {})],
    "community_group_health": lambda b: [("get", "/community/groups/health/", {})],
    "community_group_codes": lambda b: [("get", "/community/groups/codes/", {})],
    "community_group_code": lambda b: [("get", f"/community/groups/codes/{b.group_code_id}/", {})],
    "community_group_welcomes": lambda b: [("get", "/community/groups/welcome/", {})],
    "community_group_messages": lambda b: [("get", "/community/groups/messages/", {})],
    "community_chat_insights": lambda b: [("get", "/community/chat-insights/", {"days": "14"})],
    "community_sensitive_words": lambda b: [("get", "/community/sensitive-words/", {}),
                                            ("get", "/community/sensitive-words/", {"status": "handled"})],
    "community_handovers": lambda b: [("get", "/community/handovers/", {})],
    "community_handover": lambda b: [("get", f"/community/handovers/{b.handover_id}/", {})],
    "acquisition_codes": lambda b: [("get", "/acquisition/", {}), ("get", "/acquisition/", {"archived": "1"})],
    "acquisition_code": lambda b: [("get", f"/acquisition/{b.live_code_id}/", {})],
    "acquisition_code_new": lambda b: [("get", "/acquisition/new/", {})],
    "acquisition_code_edit": lambda b: [("get", f"/acquisition/{b.live_code_id}/edit/", {})],
    "acquisition_store_codes": lambda b: [("get", "/acquisition/store-codes/", {})],
    "acquisition_quality": lambda b: [("get", "/acquisition/quality/", {"by": by})
                                      for by in ("code", "store", "staff", "channel", "campaign")],
    "acquisition_my_code": lambda b: [("get", "/acquisition/my-code/", {})],
    "loyalty_coupon_templates": lambda b: [("get", "/loyalty/coupons/", {})],
    "loyalty_coupon_template_new": lambda b: [("get", "/loyalty/coupons/new/", {})],
    "loyalty_coupon_template": lambda b: [("get", f"/loyalty/coupons/{b.coupon_template_id}/", {})],
    "loyalty_coupon_template_edit": lambda b: [("get", f"/loyalty/coupons/{b.coupon_template_id}/edit/", {})],
    "loyalty_coupon_lookup": lambda b: [("get", "/loyalty/coupons/lookup/", {"code": c}) for c in
                                        (b.coupon_code, "NO-SUCH-CODE")],
    "privacy_requests": lambda b: [("get", "/privacy/requests/", {}), ("get", "/privacy/requests/", {"overdue": "1"})],
    "privacy_request": lambda b: [("get", f"/privacy/requests/{b.privacy_request_id}/", {})],
    "privacy_request_new": lambda b: [("get", "/privacy/requests/new/", {"customer": b.customer_id})],
    "integrations_subscriptions": lambda b: [("get", "/settings/integrations/", {})],
    "integrations_subscription": lambda b: [("get", f"/settings/integrations/{b.subscription_id}/", {})],
    "api_tokens": lambda b: _api_tokens(b),
    "loyalty_points": lambda b: [("get", "/loyalty/points/", {})],
    "loyalty_points_customer": lambda b: [("get", f"/loyalty/points/customers/{b.customer_id}/", {})],
    "loyalty_tiers": lambda b: [("get", "/loyalty/tiers/", {}), ("get", "/loyalty/tiers/", {"edit": "1"})],
    "loyalty_earning": lambda b: [("get", "/loyalty/earning/", {}), ("get", "/loyalty/earning/", {"edit": "1"})],
    "loyalty_checkin": lambda b: _loyalty_mall(b) and [("get", "/loyalty/checkin/", {})],
    "loyalty_checkin_rule": lambda b: [("get", f"/loyalty/checkin/rules/{_loyalty_mall(b)['rule']}/", {})],
    "loyalty_mall": lambda b: _loyalty_mall(b) and [("get", "/loyalty/mall/", {})],
    "loyalty_mall_item": lambda b: [("get", f"/loyalty/mall/items/{_loyalty_mall(b)['item']}/", {})],
    "loyalty_mall_redemptions": lambda b: _loyalty_mall(b) and [("get", "/loyalty/mall/redemptions/", {})],
    "surveys": lambda b: [("get", "/surveys/", {})],
    "survey": lambda b: [("get", f"/surveys/{b.survey_id}/", {})],
    "survey_question": lambda b: [("get", f"/surveys/{b.survey_id}/questions/1/", {})],
    "survey_question_new": lambda b: [("get", f"/surveys/{b.survey_id}/questions/new/", {})],
    "survey_results": lambda b: [("get", f"/surveys/{b.survey_id}/results/", {})],
    "survey_persona": lambda b: [("get", f"/surveys/{b.survey_id}/persona/", {}),
                                 ("get", f"/surveys/{b.survey_id}/persona/", {"segment": b.segment_id, "trait": "clv_band"})],
    "survey_attributes": lambda b: [("get", "/surveys/attributes/", {})],
}  # fmt: skip


def _api_tokens(b):
    """A token of every state (valid, expired, revoked), then the page that shows a new one once, the list."""
    import datetime as dt

    from django.utils import timezone

    from siyu.api.actions import create_token, revoke_token
    from siyu.api.models import ApiToken

    create_token(b.admin, "会员小程序", scopes=["*:read"], expires_in=dt.timedelta(days=30))
    create_token(b.admin, "旧系统", scopes=["*"], expires_in=dt.timedelta(hours=1))
    ApiToken.objects.filter(name="旧系统").update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    create_token(b.admin, "报表", scopes=["analytics:read"])
    revoke_token(b.admin, "报表")
    scopes = ["customers:write", "ingest:write"]
    form = {"name": "商城系统", "user": b.admin.pk, "scopes": scopes, "expires_in": "90d"}
    return [("post", "/settings/api-tokens/", form), ("get", "/settings/api-tokens/", {})]


def _loyalty_mall(b) -> dict:
    """A check-in rule, a member's check-ins and a gift redeemed in the mall (made once per brand)."""
    if not hasattr(b, "loyalty_mall"):
        from siyu.loyalty.checkin import actions as checkin
        from siyu.loyalty.mall import actions as mall
        from siyu.loyalty.points import actions as points

        rule = checkin.save_rule(b.admin, streak_day=21, points=5)  # the demo has days 1, 3, 7 and 14
        checkin.check_in(b.customer_id)
        item = mall.save_item(b.admin, name="保温杯", kind="gift", points_price=100, stock=5, status="on_sale")
        points.award_points(b.customer_id, 100, key="words:mall", reason="words", source="manual")
        mall.redeem_item(b.customer_id, item.pk, key="words:mall", address={"name": "张三", "phone": "13812345678",
                                                                          "detail": "南京西路1号"})  # fmt: skip
        b.loyalty_mall = {"rule": rule.pk, "item": item.pk}
    return b.loyalty_mall


# url name -> why it has no page of its own (a form's target redirects; a file; a machine's endpoint)
NOT_PAGES = {
    **{name: "POST, redirects" for name in (
        "community_rule_save", "community_rule_delete", "community_rules_rescan", "community_alert_handle",
        "community_archive_import", "community_handover_start", "community_handover_check",
        "community_group_welcome_delete")},  # fmt: skip
    "login": "the sign-in page; visited logged out in test_the_sign_in_page_is_chinese",
    "logout": "POST, redirects",
    "bulk_tags": "POST, redirects to the customer list",
    "customer_tag": "POST, redirects to the profile",
    "customer_note": "POST, redirects to the profile",
    "customer_consent": "POST, redirects to the profile",
    "customer_owner": "POST, redirects to the profile",
    "customer_identity": "POST (a manual merge, split or undo), redirects to the profile",
    "identity_decide": "POST, redirects to the review queue",
    "identity_decide_rule": "POST, redirects to the review queue",
    "resolve": "POST, redirects to the job page",
    "job_rejected": "a CSV file of the rejected rows, as they came",
    "analytics_spend_add": "POST, redirects to the channel ROI page",
    "analytics_spend_import": "POST, redirects to the channel ROI page",
    "analytics_spend_delete": "POST, redirects to the channel ROI page",
    "analytics_customer_list": "POST, redirects to the repurchase page",
    "segment_schedule": "POST, redirects to the segment list",
    "segment_refresh": "POST, redirects to the segment",
    "segment_delete": "POST, redirects to the segment list",
    "segment_export": "a CSV or XLSX file",
    "engagement_wecom_callback": "WeCom's server calls it",
    "engagement_script_add": "POST, redirects to the content library",
    "engagement_script_archive": "POST, redirects to the content library",
    "engagement_material_add": "POST, redirects to the content library",
    "engagement_material_archive": "POST, redirects to the content library",
    "engagement_material_image": "an image",
    "engagement_task_create": "POST, redirects to the guide tasks",
    "engagement_task_complete": "POST, redirects to the guide tasks",
    "engagement_batch_cancel": "POST, redirects to the guide tasks",
    "engagement_tasks_reassign": "POST, redirects to the guide tasks",
    "engagement_wecom_sync": "POST, redirects to the channels page",
    "engagement_wecom_tag": "POST, redirects to the profile",
    "engagement_wecom_transfer": "POST, redirects to the profile",
    "engagement_sms_push": "the SMS provider's server calls it",
    "acquisition_code_archive": "POST, redirects to the code's page",
    "acquisition_code_qr": "an image",
    "acquisition_code_poster": "a PNG or PDF file",
    "loyalty_coupon_template_issue": "POST, redirects to the template or the job",
    "loyalty_coupon_void": "POST, redirects to the coupon",
    "privacy_request_move": "POST, redirects to the request",
    "integrations_subscription_action": "POST, redirects to the subscription (or shows a new secret once)",
    "integrations_redeliver": "POST, redirects to the subscription",
    "api_token_revoke": "POST, redirects to the API tokens",

    "privacy_request_copy": "POST, a ZIP file",
    "privacy_request_correct": "POST, redirects to the request",
    "loyalty_points_adjust": "POST, redirects to the customer's points",
    "loyalty_mall_redemption_change": "POST (ship, hand over, cancel), redirects to the redemptions",
    "loyalty_mall_fulfilment_csv": "a CSV file",
    "loyalty_mall_fulfilment_xlsx": "an XLSX file",
    "survey_question_delete": "POST, redirects to the survey",
    "survey_persona_export": "a CSV or XLSX file",
}


def test_every_console_url_is_listed_here():
    names = console_url_names()
    assert names - set(PAGES) - set(NOT_PAGES) == set(), "a console page this test does not visit"
    assert (set(PAGES) | set(NOT_PAGES)) - names == set(), "a page listed here that the URLconf lacks"


def _brand_data(brand) -> set[str]:
    """Words the brand's own data holds in Latin letters: staff usernames, store names, the names of the
    files imported, what was typed into a material or a channel account."""
    from django.contrib.auth import get_user_model

    from siyu.core.models import Job
    from siyu.engagement.content.models import Material
    from siyu.engagement.messaging.models import ChannelAccount
    from siyu.staff.models import Store
    from siyu.warehouse import backend

    texts = list(get_user_model().objects.values_list("username", flat=True))
    texts += backend().table("order_items").select("product").distinct().product.to_pyarrow().to_pylist()
    texts.append(brand.list_name)
    texts += Store.objects.values_list("name", flat=True)
    texts += [p.rsplit("/", 1)[-1] for job in Job.objects.filter(kind="import") for p in job.params["paths"]]
    texts += [v for m in Material.objects.all() for v in (m.appid, m.page_path, m.url)]
    texts += [v for a in ChannelAccount.objects.all() for v in a.settings.values()]
    return {
        word
        for text in texts
        if text
        for word in [text, *LATIN_WORD.findall(text), *re.findall(r"\w+", text)]
    }


def _visit(client, language: str, method: str, path: str, data: dict) -> str:
    client.cookies["django_language"] = language
    response = getattr(client, method)(path, data, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200, (language, path, response.status_code)
    assert response.get("Content-Language", language) == language
    return response.content.decode()


@pytest.fixture
def brand(warehouse, settings, tmp_path):
    return build_brand(settings, tmp_path)


def test_every_console_page_speaks_chinese_and_shows_no_codes(client, brand):
    client.force_login(brand.admin)
    data = _brand_data(brand)
    problems = []
    for name, requests in PAGES.items():
        for method, path, params in requests(brand):
            zh = visible_text(_visit(client, "zh-hans", method, path, params))
            en = visible_text(_visit(client, "en", method, path, params))
            problems += [f"{name} {path} zh: {p}" for p in english_in_chinese(zh, data)]
            problems += [f"{name} {path} en: {p}" for p in codes_in_english(en, data)]
    translation.activate("zh-hans")  # the last request left English active in this thread
    assert problems == [], f"{len(problems)} words:\n" + "\n".join(dict.fromkeys(problems))


# The form field naming a segment, a journey or a batch of guide tasks (the words test cannot tell 名称
# from 姓名, a person's name, which it was)
NAMED_THINGS = ("/segments/new/", "/engagement/journeys/new/", "/engagement/tasks/")
NAME_FIELD = re.compile(
    r'<label>(?:<span class="filter-label">)?([^<]+?)\s*(?:</span>)?\s*<input type="text" name="name"'
)


def test_a_segment_a_journey_and_a_task_batch_have_a_name_not_a_persons_name(admin_client, warehouse):
    for path in NAMED_THINGS:
        page = admin_client.get(path, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
        assert NAME_FIELD.findall(page) == ["名称"], path


def test_the_menu_names_background_jobs_and_guide_tasks_apart(admin_client, warehouse):
    page = admin_client.get("/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    menu = re.search(r'<nav class="mainnav".*?</nav>', page, re.S).group(0)
    items = [text.strip() for text in re.findall(r"<a [^>]*>([^<]+)</a>", menu)]
    assert "后台作业" in items and "导购任务" in items and "任务" not in items
    assert len(items) == len(set(items)), items


def test_the_sign_in_page_is_chinese(client, db):
    zh = visible_text(_visit(client, "zh-hans", "get", "/login/", {}))
    en = visible_text(_visit(client, "en", "get", "/login/", {}))
    assert "登录" in " ".join(zh)
    assert english_in_chinese(zh, set()) == [] and codes_in_english(en, set()) == []


def test_every_job_kind_has_words():
    """The jobs pages name a job by its kind's words: a kind an app registers without them shows as a code."""
    from siyu.console.labels import JOB_KINDS
    from siyu.core.jobs import job_kinds

    assert sorted(set(job_kinds()) - set(JOB_KINDS)) == []


def test_the_sources_siyu_writes_itself_have_words(warehouse):
    """Events of loyalty and surveys, and records of new members, carry sources no import named: the
    profile's timeline and identities show them in words, not as codes."""
    from django.utils import translation

    from siyu.ingest.labels import source_labels

    with translation.override("zh-hans"):
        words = source_labels()
    assert (words["loyalty"], words["surveys"], words["member_centre"]) == ("会员权益", "问卷", "会员中心")
