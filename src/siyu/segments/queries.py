"""Read side of traits: the stored snapshots, one customer's traits, trait filters for the customer list
and the trait columns of `siyu export customers`. Ibis expressions only."""

from __future__ import annotations

import time
from datetime import date, datetime

import ibis

from siyu.core.labels import label
from siyu.customers import labels as customer_labels
from siyu.customers.models import Tag
from siyu.customers.queries import CONSENT_CHANNELS, CustomerListQuery, ResolvedFilters, clean_text
from siyu.ingest.labels import source_labels
from siyu.segments import labels as segment_labels
from siyu.segments import rules
from siyu.segments.errors import NotFound, TraitsNotComputed
from siyu.segments.models import Segment, StageSet
from siyu.segments.prediction_queries import field_notes
from siyu.segments.traits import (
    AIPL_STAGES,
    LIFECYCLE_STAGES,
    RUNS_TABLE,
    STAGES_TABLE,
    TRAITS_TABLE,
    VALUE_LAYERS,
    cutoff_of,
)
from siyu.staff.models import Role, Store
from siyu.warehouse import backend
from siyu.warehouse.events import event_property
from siyu.warehouse.paging import page_of
from siyu.warehouse.schema import TABLES, TS

# Trait columns `siyu export customers` adds after customer_summary's (which already has the lifetime
# totals: orders, spend, first and last purchase).
EXPORT_COLUMNS = (
    "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "rfm_layer", "value_layer",
    "priced_orders", "discount_order_share", "discount_depth", "lifecycle_stage", "aipl_stage",
    "purchase_cycle_days", "next_purchase_due", "due_in_days", "computed_tags",
)  # fmt: skip
STAGE_COLUMN_PREFIX = "stage:"
# Filters the customer list offers over the current traits: parameter -> trait column.
LIST_FILTERS = {
    "rfm_layer": "rfm_layer",
    "value_layer": "value_layer",
    "aipl_stage": "aipl_stage",
    "computed_tag": "computed_tags",
}


def trait_runs() -> list[dict]:
    """Every stored snapshot, the current first, then the newest cut-off first."""
    runs = backend().table(RUNS_TABLE)
    ordered = runs.order_by([ibis.desc(runs.current), ibis.desc(runs.as_of)])
    return ordered.drop("settings").to_pyarrow().to_pylist()


def snapshot_cutoff(as_of: date | None = None) -> datetime:
    """The cut-off of the current snapshot, or of the one computed for `as_of`; TraitsNotComputed when
    there is none."""
    runs = backend().table(RUNS_TABLE)
    wanted = runs.current if as_of is None else runs.as_of == cutoff_of(as_of)
    found = runs.filter(wanted).order_by(ibis.desc(runs.as_of)).limit(1).as_of.to_pyarrow().to_pylist()
    if not found:
        if as_of is None:
            raise TraitsNotComputed("traits have not been computed yet: run `siyu traits` (or resolve)")
        raise TraitsNotComputed(f"no traits as of {as_of}: compute them with `siyu traits --as-of {as_of}`")
    return found[0]


def snapshot_expr(as_of: date | None = None) -> ibis.Table:
    """Every customer's traits in one snapshot (see snapshot_cutoff)."""
    cutoff = snapshot_cutoff(as_of)
    traits = backend().table(TRAITS_TABLE)
    return traits.filter(traits.as_of == cutoff)


def traits_of(customer_id: int, as_of: date | None = None) -> dict | None:
    """One customer's traits with `stages` ({stage set: stage}); None when the snapshot does not hold the
    customer (first seen after its cut-off, or created by a later resolve)."""
    cutoff = snapshot_cutoff(as_of)
    traits = backend().table(TRAITS_TABLE)
    rows = (
        traits.filter((traits.as_of == cutoff) & (traits.customer_id == customer_id)).to_pyarrow().to_pylist()
    )
    if not rows:
        return None
    return {
        **rows[0],
        "computed_tags": list(rows[0]["computed_tags"] or []),
        "stages": _stages(customer_id, cutoff),
    }


def stages_of(customer_id: int, as_of: date | None = None) -> dict[str, str]:
    return _stages(customer_id, snapshot_cutoff(as_of))


def _stages(customer_id: int, cutoff: datetime) -> dict[str, str]:
    stages = backend().table(STAGES_TABLE)
    rows = stages.filter((stages.as_of == cutoff) & (stages.customer_id == customer_id))
    return {r["stage_set"]: r["stage"] for r in rows.order_by("stage_set").to_pyarrow().to_pylist()}


def customers_matching(**filters) -> ibis.Column | None:
    """Customer ids of the current snapshot that pass the given LIST_FILTERS (None: no filter given).
    Without a current snapshot no customer passes."""
    given = {k: v for k, v in filters.items() if k in LIST_FILTERS and v not in (None, "")}
    if not given:
        return None
    try:
        traits = snapshot_expr()
    except TraitsNotComputed:
        return ibis.memtable({"customer_id": []}, schema={"customer_id": "int64"}).customer_id
    predicates = []
    for name, value in given.items():
        column = traits[LIST_FILTERS[name]]
        predicates.append(column.contains(str(value)) if name == "computed_tag" else column == str(value))
    return traits.filter(*predicates).customer_id


def customer_list_query(**params) -> CustomerListQuery:
    """The customer list's query (siyu.customers.queries.CustomerListQuery) for `params`, the console's and
    the API's alike: its filters on the current traits (LIST_FILTERS) resolved here into the customers they
    match, since customers sits below segments and reads no traits."""
    traits = {name: params.pop(name, None) for name in LIST_FILTERS}
    given = {
        name: text for name, value in traits.items() if value is not None and (text := clean_text(value))
    }
    matching = customers_matching(**given)
    resolved = ResolvedFilters(given, matching) if matching is not None else None
    return CustomerListQuery(**params, resolved=resolved)


def filter_choices() -> dict[str, list[str]]:
    """Values the list filters can take in the current snapshot (computed tags: the names in use)."""
    try:
        traits = snapshot_expr()
    except TraitsNotComputed:
        return {name: [] for name in LIST_FILTERS}
    choices = {}
    for name, column in LIST_FILTERS.items():
        values = traits.select(value=traits[column].unnest() if name == "computed_tag" else traits[column])
        values = values.filter(values.value.notnull()).distinct().order_by("value").limit(500)
        choices[name] = values.value.to_pyarrow().to_pylist()
    return choices


def with_trait_columns(customers: ibis.Table) -> ibis.Table:
    """`customers` (one row per customer_id) with the current traits as columns (EXPORT_COLUMNS, as
    `traits_as_of` the snapshot's cut-off) and one `stage:<set>` column per active stage set; the columns
    are there, empty, before traits are first computed."""
    try:
        cutoff = snapshot_cutoff()
    except TraitsNotComputed:
        cutoff = None
    schema = TABLES[TRAITS_TABLE]
    if cutoff is None:
        empty = {name: ibis.null(schema[name]) for name in EXPORT_COLUMNS}
        out = customers.mutate(traits_as_of=ibis.null(TS), **empty)
    else:
        traits = backend().table(TRAITS_TABLE)
        traits = traits.filter(traits.as_of == cutoff).select("customer_id", "as_of", *EXPORT_COLUMNS)
        out = customers.left_join(traits.rename(traits_as_of="as_of"), "customer_id")
        out = out.drop(*[c for c in out.columns if c.endswith("_right")])
    for name in StageSet.objects.filter(active=True).values_list("name", flat=True):
        column = f"{STAGE_COLUMN_PREFIX}{name}"
        if cutoff is None:
            out = out.mutate(**{column: ibis.null("string")})
            continue
        stages = backend().table(STAGES_TABLE)
        stages = stages.filter((stages.as_of == cutoff) & (stages.stage_set == name))
        out = out.left_join(stages.select("customer_id", **{column: stages.stage}), "customer_id")
        out = out.drop(*[c for c in out.columns if c.endswith("_right")])
    return out


# --- segments ----------------------------------------------------------------------------------------

SAMPLE_SIZE = 10
SEGMENT_PAGE_MAX = 200
MEMBER_COLUMNS = (
    "customer_id", "name_masked", "phone_masked", "province", "city", "orders", "spend", "last_purchase_at",
)  # fmt: skip


def _member_rows(ids: ibis.Table, limit: int, offset: int = 0) -> list[dict]:
    """Masked profile rows (never clear PII) of the customers in `ids`, by customer id."""
    summary = backend().table("customer_summary").select(*MEMBER_COLUMNS)
    rows = page_of(summary.semi_join(ids, "customer_id").order_by("customer_id"), limit, offset)
    out = rows.to_pyarrow().to_pylist()
    for row in out:
        row["spend"] = str(row["spend"] if row["spend"] is not None else "0.00")
    return out


def get_segment(segment_id) -> Segment:
    """The segment with this id; NotFound otherwise."""
    try:
        return Segment.objects.get(pk=int(segment_id))
    except (Segment.DoesNotExist, ValueError, TypeError, OverflowError):
        raise NotFound(f"no segment {segment_id}") from None


def preview_segment(rule, sample: int = SAMPLE_SIZE) -> dict:
    """The member count and the first `sample` members (by id) a rule gives now; nothing is written.
    RuleError naming the bad part of the rule."""
    from siyu.segments.actions import checked_rule  # segments.actions imports this module
    from siyu.segments.membership import rule_members  # membership imports this module

    started = time.monotonic()
    members = rule_members(backend(), checked_rule(rule))
    if sample <= 0:
        count, rows = int(members.count().execute()), []
    else:
        # One evaluation of the rule: the count rides along as a window over the whole set on the first
        # `sample` ids (a count, then the sample, would evaluate the rule twice).
        first = members.mutate(total=members.customer_id.count().over(ibis.window()))
        first = first.order_by("customer_id").limit(sample).to_pyarrow().to_pylist()
        count = int(first[0]["total"]) if first else 0
        ids = ibis.memtable(
            {"customer_id": [r["customer_id"] for r in first]}, schema={"customer_id": "int64"}
        )
        rows = _member_rows(ids, sample) if first else []
    return {"count": count, "sample": rows, "seconds": round(time.monotonic() - started, 3)}


def member_ids(segment_id: int) -> ibis.Table:
    """The stored members of a segment (customer_id)."""
    members = backend().table("segment_members")
    return members.filter(members.segment_id == int(segment_id)).select("customer_id")


def segment_members_page(segment_id: int, page: int = 1, page_size: int = 50) -> dict:
    """One page of a segment's stored members (masked profile rows, by customer id)."""
    page, page_size = max(int(page), 1), min(max(int(page_size), 1), SEGMENT_PAGE_MAX)
    ids = member_ids(segment_id)
    total = int(ids.count().execute())
    items = _member_rows(ids, page_size, (page - 1) * page_size) if total else []
    return {"items": items, "total": total, "page": page, "page_size": page_size,
            "pages": -(-total // page_size)}  # fmt: skip


def segment_changes_page(segment_id: int, page: int = 1, page_size: int = 50) -> dict:
    """A segment's enter/exit history, newest first."""
    page, page_size = max(int(page), 1), min(max(int(page_size), 1), SEGMENT_PAGE_MAX)
    changes = backend().table("segment_changes")
    mine = changes.filter(changes.segment_id == int(segment_id))
    total = int(mine.count().execute())
    rows = mine.order_by([ibis.desc(mine.changed_at), mine.change, mine.customer_id])
    rows = page_of(rows.select("customer_id", "change", "changed_at"), page_size, (page - 1) * page_size)
    return {"items": rows.to_pyarrow().to_pylist(), "total": total, "page": page, "page_size": page_size,
            "pages": -(-total // page_size)}  # fmt: skip


def membership_changes_since(since: datetime) -> dict[int, dict]:
    """Per segment whose refreshes let members in or out since `since` (segment_changes): how many
    entered and how many left."""
    changes = backend().table("segment_changes")
    recent = changes.filter(changes.changed_at >= ibis.literal(since, type=TS))
    per_segment = recent.group_by("segment_id").aggregate(
        entered=recent.count(where=recent.change == "enter"),
        exited=recent.count(where=recent.change == "exit"),
    )
    rows = per_segment.to_pyarrow().to_pylist()
    return {r["segment_id"]: {"entered": r["entered"], "exited": r["exited"]} for r in rows}


def segment_export_expr(segment_id: int) -> ibis.Table:
    """What `siyu export segment ID` writes: one row per member with masked profile columns and when the
    customer entered."""
    members = backend().table("segment_members")
    mine = members.filter(members.segment_id == int(segment_id)).select("customer_id", "entered_at")
    summary = backend().table("customer_summary").select(*MEMBER_COLUMNS)
    joined = mine.left_join(summary, "customer_id")
    joined = joined.drop(*[c for c in joined.columns if c.endswith("_right")])
    return joined.order_by("customer_id")


# The words of codes that domains above segments define and the builder offers (group types of WeCom
# customer groups): {kind: {code: words}}, filled by those apps' AppConfig.ready().
_builder_words: dict[str, dict] = {}


def register_builder_words(kind: str, table) -> None:
    """`table`: {code: words}, or a function returning what the builder offers for `kind` when it is drawn
    (loyalty registers "tiers" and "coupon_templates", surveys "surveys": see loyalty_choices)."""
    _builder_words[kind] = table


def _registered(kind: str):
    words = _builder_words.get(kind)
    return words() if callable(words) else words


MAX_BUILDER_CHOICES = 200


def loyalty_choices(con=None) -> dict:
    """The tiers ([code, name, rank]), coupon templates ([id, name]) and surveys ([{id, name, questions:
    [{id, text, options: [[code, words]]}]}]) the builder offers: as loyalty and surveys register them
    (they sit above segments), else as the warehouse's mirrored tables show them. Journeys' editor offers them too."""
    con = con or backend()
    tiers = _registered("tiers")
    if tiers is None:
        m = con.table("loyalty_members")
        m = m.filter(m.tier_code.notnull())
        rows = m.group_by("tier_code").aggregate(name=m.tier_name.max(), rank=m.tier_rank.max()).to_pyarrow()
        tiers = sorted(([r["tier_code"], r["name"] or r["tier_code"], r["rank"] or 0] for r in rows.to_pylist()),
                       key=lambda t: (t[2], t[0]))  # fmt: skip
    templates = _registered("coupon_templates")
    if templates is None:
        c = con.table("loyalty_coupons")
        rows = c.group_by("template_id").aggregate(name=c.template_name.max()).order_by("template_id").to_pyarrow()
        templates = [[r["template_id"], r["name"] or f"#{r['template_id']}"] for r in rows.to_pylist()]
    surveys = _registered("surveys")
    if surveys is None:
        a = con.table("survey_answers")
        rows = (
            a.select("survey_id", "question_id", "answer").distinct()
            .order_by(["survey_id", "question_id", "answer"]).limit(MAX_BUILDER_CHOICES * 10).to_pyarrow()
        )  # fmt: skip
        found: dict = {}
        for r in rows.to_pylist():
            survey = found.setdefault(r["survey_id"], {"id": r["survey_id"], "name": f"#{r['survey_id']}", "questions": {}})
            question = survey["questions"].setdefault(r["question_id"], {"id": r["question_id"], "text": r["question_id"], "options": []})
            if len(question["options"]) < MAX_BUILDER_CHOICES:
                question["options"].append([r["answer"], r["answer"]])
        surveys = [{**s, "questions": list(s["questions"].values())} for s in found.values()]
    return {"tiers": tiers, "coupon_templates": templates, "surveys": surveys}


def _live_codes_seen(con) -> list[list[str]]:
    """[code id, code name] of the live codes people added through (the code_scanned events' properties)."""
    events = con.table("events")
    scanned = events.filter(events.event_type == "code_scanned")
    pairs = scanned.select(code_id=event_property(scanned, "code_id"), name=event_property(scanned, "code_name"))
    rows = pairs.filter(pairs.code_id.notnull()).group_by("code_id").aggregate(name=pairs.name.max()).to_pyarrow()
    return sorted(([r["code_id"], r["name"] or r["code_id"]] for r in rows.to_pylist()), key=lambda p: p[1])


def builder_catalog() -> dict:
    """What the console's point-and-click builder offers: every field a segment rule may name, with its
    kind, operators, label and (for coded fields) choices; the behaviour conditions' known values (the
    channels of the orders, event types, stores, tags, guides). The builder writes the same JSON rule
    the API takes; the server checks it (siyu.segments.rules) as before. Coded values come as [code, words]."""
    from django.contrib.auth import get_user_model
    from django.utils.translation import gettext as _


    def coded(codes, table) -> list[list[str]]:
        return [[code, label(table, code)] for code in codes]

    field_labels = {
        "orders_total": _("Orders (all time)"), "spend_total": _("Spend (all time, yuan)"),
        "recency_days": _("Days since last purchase"), "frequency": _("Orders in the RFM window"),
        "monetary": _("Spend in the RFM window (yuan)"), "r_score": _("R score (1–5)"), "f_score": _("F score (1–5)"),
        "m_score": _("M score (1–5)"), "rfm_layer": _("RFM layer"), "value_layer": _("Value layer"),
        "priced_orders": _("Orders with a known price"), "discount_order_share": _("Share of discounted orders (0–1)"),
        "discount_depth": _("Average discount depth (0–1)"), "lifecycle_stage": _("Lifecycle"),
        "aipl_stage": "AIPL", "purchase_cycle_days": _("Purchase cycle (days)"),
        "due_in_days": _("Days until due to buy again"), "computed_tags": _("Computed tags"),
        "gender": _("Gender"), "province": _("Province"), "city": _("City"), "district": _("District"),
        "acquisition_source": _("Acquisition channel"), "sources": _("Channels"),
        "p_purchase": _("Probability of a purchase (0–1)"), "expected_transactions": _("Expected purchases"),
        "p_alive": _("Probability still active (0–1)"), "expected_aov": _("Expected order value (yuan)"),
        "clv": _("Customer lifetime value (yuan)"),
    }  # fmt: skip
    choices = {
        "rfm_layer": coded(segment_labels.RFM_LAYERS, segment_labels.RFM_LAYERS),
        "value_layer": coded(VALUE_LAYERS, segment_labels.VALUE_LAYERS),
        "lifecycle_stage": coded(LIFECYCLE_STAGES, customer_labels.STAGES),
        "aipl_stage": coded(AIPL_STAGES, segment_labels.AIPL_STAGES),
        # as records store it (siyu.ingest normalises)
        "gender": coded(sorted(customer_labels.GENDERS), customer_labels.GENDERS),
    }
    groups = (
        (_("Traits"), rules.FIELDS),
        (_("Profile"), rules.PROFILE_FIELDS),
        (_("Predictions"), rules.PREDICTION_FIELDS),
    )
    # Which score a prediction field holds now and, when a model was not worth using, why (the builder
    # shows it beside the field; prediction_queries.field_notes).
    notes = field_notes()
    fields = [
        {"name": name, "kind": kind, "group": str(group),
         "label": str(field_labels.get(name, name)) + (f" · {notes[name]['which']}" if name in notes else ""),
         "ops": sorted(rules.OPS[kind]), "choices": choices.get(name, []),
         "note": notes[name]["note"] if name in notes else ""}
        for group, table in groups for name, kind in table.items()
    ]  # fmt: skip
    con = backend()
    sources = con.table("orders").select("source").distinct().source.to_pyarrow().to_pylist()
    events = con.table("events").select("event_type").distinct().event_type.to_pyarrow().to_pylist()
    guides = get_user_model().objects.filter(staff__role=Role.GUIDE, is_active=True)
    source_words = source_labels()
    return {
        "fields": fields,
        # [value, words] pairs: a condition keeps the code, the builder shows the words
        "sources": [[s, source_words.get(s, s)] for s in sorted(s for s in sources if s)],
        "event_types": coded(sorted(e for e in events if e), customer_labels.EVENT_TYPES),
        "stores": [[s.code, s.name] for s in Store.objects.order_by("code")],
        "tags": sorted(str(t) for t in Tag.objects.select_related("group")),
        "guides": [
            [g.username, getattr(getattr(g, "staff", None), "display_name", "") or g.username]
            for g in guides.select_related("staff").order_by("username")
        ],
        "consent_channels": coded(CONSENT_CHANNELS, customer_labels.CONSENT_CHANNELS),
        "consent_statuses": coded(rules.CONSENT_STATUSES, customer_labels.CONSENT_STATUSES),
        "live_codes": _live_codes_seen(con),
        "group_types": [[code, str(words)] for code, words in _builder_words.get("group_types", {}).items()],
        **loyalty_choices(con),
        "coupon_statuses": [[code, str(segment_labels.COUPON_STATUSES[code])] for code in rules.COUPON_STATUSES],
    }

