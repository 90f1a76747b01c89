"""The rule format of computed tags and custom stage sets: a condition is plain JSON, checked when it is
saved and compiled to an Ibis boolean expression over one traits row per customer.

    {"all": [condition, …]}                          every condition holds
    {"any": [condition, …]}                          at least one holds
    {"not": condition}
    {"field": NAME, "op": OP, "value": VALUE}        a trait (FIELDS) compared with a constant
    {"bought": {"product_id": ID, "product_name": TEXT, "within_days": N, "at_least": K}}
                                                     at least K purchase orders (default 1) in the N days
                                                     before the cut-off (default: all history), of a product
                                                     whose id or SKU is ID, or whose name contains TEXT
                                                     (neither given: any purchase)
    {"customer_group": {"type": TYPE}}               in a WeCom customer group (of that type: welfare, vip,
                                                     product, city, other) at the cut-off
    {"customer_group": {"type": TYPE, "left_within_days": N}}
                                                     left a customer group (of that type) within N days of
                                                     joining it (an early leaver)
    {"event": {"type": TYPE, "with": {NAME: VALUE, …}, "within_days": N, "at_least": K}}
                                                     at least K events (of TYPE, or of any type) in the N days,
                                                     whose properties hold every NAME = VALUE when given
                                                     (added through live code 5: type "code_scanned",
                                                     with {"code_id": "5"})

Loyalty and surveys, read from the warehouse tables their mirrors keep (siyu.loyalty.mirror,
siyu.surveys.mirror; segments sit below both apps, so they never read their models). A customer without a
loyalty_members row is not a member: every loyalty condition is false for them. Segments only:

    {"points": {"at_least": N, "at_most": M}}        available points within the bounds (either may be left out)
    {"tier": {"in": [CODE, …], "rank_at_least": R}}  the tier is one of the codes / its rank ≥ R (higher is better)
    {"coupon": {"template_id": ID, "status": "held" | "usable" | "used"}}
                                                     has a coupon (of the template): ever received ("held"),
                                                     unused and not expired at the cut-off ("usable"), or used
    {"checkin": {"streak_at_least": N, "within_days": D}}
                                                     a check-in streak of at least N days still alive (checked
                                                     in today or yesterday, local time) / checked in on one of
                                                     the last D local days (1: today)
    {"survey_answer": {"survey_id": S, "question_id": Q, "answers": [A, …]}}
                                                     answered question Q of survey S with one of the answers
                                                     (a chosen option's code, or a value)

`bought` also takes "source" (the channel: an import source such as "tmall") and "store" (a store code
on the order). Segments (scope "segment") may use, besides:

    {"field": PROFILE_FIELD, …}                      a profile field (PROFILE_FIELDS) of customer_summary
    {"field": PREDICTION_FIELD, …}                   a prediction (PREDICTION_FIELDS): p_purchase, clv, …
    {"spent": {"at_least": X, "within_days": N, "source": S, "store": CODE}}
                                                     purchase amounts in the N days (default: all) sum to ≥ X
    {"tag": "组名:标签"}                               has the (manual or imported) tag
    {"consent": {"channel": CHANNEL, "status": "opt_in"|"opt_out"}}
                                                     the consent in force for CHANNEL (or "all") is STATUS
    {"owner": USERNAME}                              the owner guide is USERNAME ("" or null: no owner)
    {"store": CODE}                                  the owner guide works at store CODE

"No purchase since …" is `{"not": {"bought": {"within_days": N}}}`.

Operators: numbers `=`, `!=`, `<`, `<=`, `>`, `>=`, `between` (VALUE [low, high], both included);
texts `=`, `!=`, `in`, `not in` (VALUE a list); every field `is null`, `is not null`; `computed_tags`
`contains`. A comparison with a missing value (a customer without purchases has no `recency_days`) is
false, so `{"not": …}` of it is true. Everything compiles to Ibis, so rules run on every backend.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import ibis
from django.conf import settings

from siyu.customers.queries import CONSENT_CHANNELS
from siyu.segments.errors import RuleError
from siyu.warehouse.events import PROPERTY_NAME, event_property, with_properties

NUMBER, TEXT, LIST = "number", "text", "list"

# Trait columns a rule may name (siyu.warehouse.schema "customer_traits"), with their kind.
FIELDS = {
    "orders_total": NUMBER,
    "spend_total": NUMBER,
    "recency_days": NUMBER,
    "frequency": NUMBER,
    "monetary": NUMBER,
    "r_score": NUMBER,
    "f_score": NUMBER,
    "m_score": NUMBER,
    "rfm_layer": TEXT,
    "value_layer": TEXT,
    "priced_orders": NUMBER,
    "discount_order_share": NUMBER,
    "discount_depth": NUMBER,
    "lifecycle_stage": TEXT,
    "aipl_stage": TEXT,
    "purchase_cycle_days": NUMBER,
    "due_in_days": NUMBER,
    "computed_tags": LIST,
}
# Profile columns of customer_summary that segment rules may name.
PROFILE_FIELDS = {
    "gender": TEXT,
    "province": TEXT,
    "city": TEXT,
    "district": TEXT,
    "acquisition_source": TEXT,
    "sources": LIST,
}
# Prediction columns of the current predictions snapshot (siyu.segments.prediction_queries) that segment
# rules may name: p_purchase (a purchase in the snapshot's horizon), expected_transactions, p_alive,
# expected_aov, clv. NULL (so every comparison false) for customers without predictions.
PREDICTION_FIELDS = {
    "p_purchase": NUMBER,
    "expected_transactions": NUMBER,
    "p_alive": NUMBER,
    "expected_aov": NUMBER,
    "clv": NUMBER,
}
# Conditions that look into the control plane (resolved to customer ids before compiling).
CONTROL_KINDS = ("tag", "consent", "owner", "store")
# Conditions on the loyalty and survey tables of the warehouse (segments only)
LOYALTY_KINDS = ("points", "tier", "coupon", "checkin", "survey_answer")
COUPON_STATUSES = ("held", "usable", "used")
MAX_POINTS = 10**12
MAX_ANSWERS = 50
SEGMENT_SCOPE, TRAITS_SCOPE = "segment", "traits"
CONSENT_STATUSES = ("opt_in", "opt_out")
COMPARISONS = {"=": "__eq__", "!=": "__ne__", "<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__"}
OPS = {
    NUMBER: {*COMPARISONS, "between", "is null", "is not null"},
    TEXT: {"=", "!=", "in", "not in", "is null", "is not null"},
    LIST: {"contains"},
}
MAX_DEPTH = 20
MAX_DAYS = 36_600


@dataclass(frozen=True)
class RuleContext:
    """What `bought` and `event` conditions look into: facts before the cut-off, with customer ids.

    purchases: customer_id, order_key, order_time (purchase orders, one row per order)
    purchase_items: customer_id, order_key, order_time, product_id, sku, product (source, store)
    events: customer_id, event_type, occurred_at, properties
    control: (customer ids, negate) per control-plane condition (siyu.segments.membership.control_ids);
        segments only
    group_stays: customer_id, group_type, joined_at, left_at (stays in customer groups)
    loyalty_members, loyalty_coupons, survey_answers: the warehouse tables of those names (segments only)
    """

    cutoff: datetime
    purchases: ibis.Table
    purchase_items: ibis.Table
    events: ibis.Table
    control: dict | None = None
    group_stays: ibis.Table | None = None
    loyalty_members: ibis.Table | None = None
    loyalty_coupons: ibis.Table | None = None
    survey_answers: ibis.Table | None = None


def check_condition(condition, where: str = "rule", depth: int = 0, scope: str = TRAITS_SCOPE) -> dict:
    """The condition, normalised (ops lower-case, defaults filled in); RuleError naming the bad part.
    scope "segment" allows profile fields, `spent` and the control-plane conditions."""
    if depth > MAX_DEPTH:
        raise RuleError(f"{where}: nested more than {MAX_DEPTH} levels deep")
    if not isinstance(condition, dict) or len(condition) != 1 and "field" not in condition:
        raise RuleError(f'{where}: a condition is one object such as {{"all": [...]}} or {{"field": ...}}')
    if "all" in condition or "any" in condition:
        key = "all" if "all" in condition else "any"
        parts = condition[key]
        if not isinstance(parts, list) or not parts:
            raise RuleError(f"{where}.{key}: give a non-empty list of conditions")
        return {
            key: [check_condition(p, f"{where}.{key}[{i}]", depth + 1, scope) for i, p in enumerate(parts)]
        }
    if "not" in condition:
        return {"not": check_condition(condition["not"], f"{where}.not", depth + 1, scope)}
    if "field" in condition:
        return _check_field(condition, where, scope)
    if "bought" in condition:
        filters = ("product_id", "product_name", "source", "store")
        return {"bought": _check_behaviour(condition["bought"], f"{where}.bought", filters)}
    if "event" in condition:
        return {"event": _check_event(condition["event"], f"{where}.event")}
    if "customer_group" in condition:
        return {"customer_group": _check_group(condition["customer_group"], f"{where}.customer_group")}
    kind = next(iter(condition))
    if scope == SEGMENT_SCOPE:
        if kind == "spent":
            return {"spent": _check_spent(condition["spent"], f"{where}.spent")}
        if kind in CONTROL_KINDS:
            return {kind: _check_control(kind, condition[kind], f"{where}.{kind}")}
        if kind in LOYALTY_KINDS:
            return {kind: _check_loyalty(kind, condition[kind], f"{where}.{kind}")}
        raise RuleError(
            f"{where}: unknown condition {kind!r}; use all, any, not, field, bought, event, customer_group, "
            "spent, tag, consent, owner, store, points, tier, coupon, checkin or survey_answer"
        )
    if kind == "spent" or kind in CONTROL_KINDS or kind in LOYALTY_KINDS:
        raise RuleError(f"{where}: {kind!r} conditions are for segments only")
    raise RuleError(f"{where}: unknown condition {kind!r}; use all, any, not, field, bought, event or customer_group")


def _check_spent(spec, where: str) -> dict:
    if not isinstance(spec, dict):
        raise RuleError(f'{where}: give an object, e.g. {{"at_least": 500, "within_days": 90}}')
    extra = set(spec) - {"at_least", "within_days", "source", "store"}
    if extra:
        raise RuleError(f"{where}: unexpected key(s) {', '.join(sorted(extra))}")
    if not _is_number(spec.get("at_least")) or spec["at_least"] < 0:
        raise RuleError(f"{where}.at_least: an amount in yuan, a number ≥ 0")
    out = {"at_least": spec["at_least"]}
    out.update(
        _check_behaviour({k: v for k, v in spec.items() if k != "at_least"}, where, ("source", "store"))
    )
    del out["at_least"]
    out["at_least"] = spec["at_least"]
    return out


def _whole(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_loyalty(kind: str, spec, where: str) -> dict:
    allowed = {
        "points": {"at_least", "at_most"},
        "tier": {"in", "rank_at_least"},
        "coupon": {"template_id", "status"},
        "checkin": {"streak_at_least", "within_days"},
        "survey_answer": {"survey_id", "question_id", "answers"},
    }[kind]
    if not isinstance(spec, dict) or not spec:
        raise RuleError(f"{where}: give an object with {', '.join(sorted(allowed))}")
    extra = set(spec) - allowed
    if extra:
        raise RuleError(f"{where}: unexpected key(s) {', '.join(sorted(extra))}")
    out: dict = {}
    if kind == "points":
        for key in ("at_least", "at_most"):
            if spec.get(key) is not None:
                if not _whole(spec[key], 0, MAX_POINTS):
                    raise RuleError(f"{where}.{key}: a whole number of points from 0")
                out[key] = spec[key]
        if not out:
            raise RuleError(f"{where}: give at_least, at_most or both")
    elif kind == "tier":
        if spec.get("in") is not None:
            codes = spec["in"]
            if not (isinstance(codes, list) and codes and len(codes) <= MAX_ANSWERS and all(_is_text(c) for c in codes)):
                raise RuleError(f"{where}.in: a non-empty list of tier codes")
            out["in"] = list(codes)
        if spec.get("rank_at_least") is not None:
            if not _whole(spec["rank_at_least"], 0, 1000):
                raise RuleError(f"{where}.rank_at_least: a tier's rank, a whole number from 0")
            out["rank_at_least"] = spec["rank_at_least"]
        if not out:
            raise RuleError(f"{where}: give in, rank_at_least or both")
    elif kind == "coupon":
        if spec.get("template_id") not in (None, ""):
            if not _whole(spec["template_id"], 1, 2**62):
                raise RuleError(f"{where}.template_id: a coupon template's id")
            out["template_id"] = spec["template_id"]
        status = spec.get("status", "held")
        if status not in COUPON_STATUSES:
            raise RuleError(f"{where}.status: one of {', '.join(COUPON_STATUSES)}")
        out["status"] = status
    elif kind == "checkin":
        if spec.get("streak_at_least") is not None:
            if not _whole(spec["streak_at_least"], 1, MAX_DAYS):
                raise RuleError(f"{where}.streak_at_least: a whole number of days from 1")
            out["streak_at_least"] = spec["streak_at_least"]
        if spec.get("within_days") is not None:
            if not _whole(spec["within_days"], 1, MAX_DAYS):
                raise RuleError(f"{where}.within_days: a whole number of days from 1 to {MAX_DAYS}")
            out["within_days"] = spec["within_days"]
        if not out:
            raise RuleError(f"{where}: give streak_at_least, within_days or both")
    else:
        if not _whole(spec.get("survey_id"), 1, 2**62):
            raise RuleError(f"{where}.survey_id: a survey's id")
        question = spec.get("question_id")
        if isinstance(question, int) and not isinstance(question, bool):
            question = str(question)
        if not _is_text(question) or len(question) > 64:
            raise RuleError(f"{where}.question_id: a question's id")
        answers = spec.get("answers")
        if not (isinstance(answers, list) and answers and len(answers) <= MAX_ANSWERS):
            raise RuleError(f"{where}.answers: a non-empty list of answers")
        texts = []
        for answer in answers:
            if _is_number(answer):
                answer = str(answer)
            if not _is_text(answer) or len(answer) > 500:
                raise RuleError(f"{where}.answers: each answer is a text or a number")
            texts.append(answer)
        out = {"survey_id": spec["survey_id"], "question_id": question, "answers": texts}
    return out


def _check_control(kind: str, spec, where: str):
    if kind == "tag":
        if not _is_text(spec) or len(spec) > 201:
            raise RuleError(f'{where}: give a tag as text, "组名:标签" or a bare name')
        return spec
    if kind == "consent":
        if not isinstance(spec, dict) or set(spec) - {"channel", "status"}:
            raise RuleError(f'{where}: give {{"channel": CHANNEL, "status": "opt_in" or "opt_out"}}')

        if spec.get("channel") not in CONSENT_CHANNELS:
            raise RuleError(f"{where}.channel: one of {', '.join(CONSENT_CHANNELS)}")
        if spec.get("status") not in CONSENT_STATUSES:
            raise RuleError(f"{where}.status: opt_in or opt_out")
        return {"channel": spec["channel"], "status": spec["status"]}
    if kind == "owner":
        if spec in (None, ""):
            return ""
        if not _is_text(spec) or len(spec) > 150:
            raise RuleError(f"{where}: give the owner guide's user name (empty: customers without an owner)")
        return spec.strip()
    if not _is_text(spec) or len(spec) > 64:
        raise RuleError(f"{where}: give a store code")
    return spec.strip()


def _check_field(condition: dict, where: str, scope: str = TRAITS_SCOPE) -> dict:
    extra = set(condition) - {"field", "op", "value"}
    if extra:
        raise RuleError(f"{where}: unexpected key(s) {', '.join(sorted(extra))}")
    name = condition["field"]
    known = {**FIELDS, **PROFILE_FIELDS, **PREDICTION_FIELDS} if scope == SEGMENT_SCOPE else FIELDS
    if name not in known:
        raise RuleError(f"{where}: unknown field {name!r}; use one of {', '.join(known)}")
    kind = known[name]
    op = str(condition.get("op", "")).strip().lower()
    if op not in OPS[kind]:
        raise RuleError(f"{where}: {name} takes the operators {', '.join(sorted(OPS[kind]))}, not {op!r}")
    if op in ("is null", "is not null"):
        return {"field": name, "op": op}
    value = condition.get("value")
    if op == "between":
        if not (isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value)):
            raise RuleError(f"{where}: between takes [low, high], two numbers")
    elif op in ("in", "not in"):
        if not (isinstance(value, list) and value and all(_is_text(v) for v in value)):
            raise RuleError(f"{where}: {op} takes a non-empty list of texts")
    elif kind == NUMBER and not _is_number(value):
        raise RuleError(f"{where}: {name} {op} needs a number, not {value!r}")
    elif kind in (TEXT, LIST) and not _is_text(value):
        raise RuleError(f"{where}: {name} {op} needs a text, not {value!r}")
    return {"field": name, "op": op, "value": value}


def _check_behaviour(spec, where: str, filters: tuple[str, ...]) -> dict:
    if not isinstance(spec, dict):
        raise RuleError(f'{where}: give an object, e.g. {{"within_days": 30}}')
    extra = set(spec) - {*filters, "within_days", "at_least"}
    if extra:
        raise RuleError(f"{where}: unexpected key(s) {', '.join(sorted(extra))}")
    out = {}
    for key in filters:
        if spec.get(key) not in (None, ""):
            if not _is_text(spec[key]):
                raise RuleError(f"{where}.{key}: give a text (no control characters)")
            out[key] = spec[key]
    within = spec.get("within_days")
    if within is not None:
        if not (isinstance(within, int) and not isinstance(within, bool) and 0 < within <= MAX_DAYS):
            raise RuleError(f"{where}.within_days: a whole number of days from 1 to {MAX_DAYS}")
        out["within_days"] = within
    at_least = spec.get("at_least", 1)
    if not (isinstance(at_least, int) and not isinstance(at_least, bool) and at_least >= 1):
        raise RuleError(f"{where}.at_least: a whole number from 1")
    out["at_least"] = at_least
    return out


MAX_PROPERTIES = 8


def _check_event(spec, where: str) -> dict:
    wanted = spec.get("with") if isinstance(spec, dict) else None
    rest = {k: v for k, v in spec.items() if k != "with"} if isinstance(spec, dict) else spec
    out = _check_behaviour(rest, where, ("type",))
    properties = check_event_properties(wanted, f"{where}.with")
    return {**out, "with": properties} if properties else out


def _check_group(spec, where: str) -> dict:
    if not isinstance(spec, dict):
        raise RuleError(f'{where}: give an object, e.g. {{"type": "welfare"}}')
    extra = set(spec) - {"type", "left_within_days"}
    if extra:
        raise RuleError(f"{where}: unexpected key(s) {', '.join(sorted(extra))}")
    out = {}
    if spec.get("type") not in (None, ""):
        if not _is_text(spec["type"]):
            raise RuleError(f"{where}.type: give a text (a group type such as welfare)")
        out["type"] = spec["type"]
    days = spec.get("left_within_days")
    if days is not None:
        if not (isinstance(days, int) and not isinstance(days, bool) and 0 < days <= MAX_DAYS):
            raise RuleError(f"{where}.left_within_days: a whole number of days from 1 to {MAX_DAYS}")
        out["left_within_days"] = days
    return out


def check_event_properties(wanted, where: str) -> dict[str, str]:
    """An event's wanted properties {name: value as text} (also a journey trigger's `with`); RuleError."""
    if wanted in (None, {}):
        return {}
    if not isinstance(wanted, dict) or len(wanted) > MAX_PROPERTIES:
        raise RuleError(f'{where}: give up to {MAX_PROPERTIES} properties, e.g. {{"code_id": "5"}}')
    for name, value in wanted.items():
        if not PROPERTY_NAME.match(str(name)):
            raise RuleError(f"{where}: {name!r} is not a property name (lower-case letters, digits, _)")
        if isinstance(value, bool) or not (_is_text(value) or _is_number(value)):
            raise RuleError(f"{where}.{name}: give a text or a number")
    return {str(name): str(value) for name, value in sorted(wanted.items())}


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_text(value) -> bool:
    """A non-empty text without control characters (no database stores NUL in text)."""
    return (
        isinstance(value, str) and bool(value) and not any(unicodedata.category(ch) == "Cc" for ch in value)
    )


def check_stages(stages, default_stage: str = "") -> list[dict]:
    """A stage set's ordered [{"stage": NAME, "when": condition}, …], normalised."""
    if not isinstance(stages, list) or not stages:
        raise RuleError("a stage set needs a non-empty list of stages")
    out, seen = [], set()
    for i, item in enumerate(stages):
        where = f"stages[{i}]"
        if not isinstance(item, dict) or set(item) != {"stage", "when"}:
            raise RuleError(f'{where}: give {{"stage": NAME, "when": condition}}')
        name = _stage_name(item["stage"], where)
        if name in seen:
            raise RuleError(f"{where}: stage {name!r} is listed twice")
        seen.add(name)
        out.append({"stage": name, "when": check_condition(item["when"], f"{where}.when")})
    if default_stage:
        _stage_name(default_stage, "default_stage")
    return out


def _stage_name(name, where: str) -> str:
    if not _is_text(name) or not name.strip() or len(name.strip()) > 64:
        raise RuleError(f"{where}: a stage name is a text of 1 to 64 characters")
    return name.strip()


def compile_rule(condition: dict, row: ibis.Table, ctx: RuleContext) -> tuple[ibis.Table, ibis.BooleanValue]:
    """(`row` with one column per behaviour condition, the condition over it): every `bought` (without a
    product), `spent` and `event` condition of the tree is one conditional count or sum of a single
    aggregation per fact table (purchases, events), joined to `row` once, instead of a grouped subquery
    per condition. Same answers as compile_condition (tests hold them equal); about half the work when a
    rule has several behaviour conditions over millions of orders."""
    columns: dict[str, tuple[str, str, object]] = {}  # condition key -> (facts, column name, aggregate)
    _collect(condition, ctx, columns)
    out = row
    for facts_name in ("purchases", "events"):
        wanted = {name: agg for facts, name, agg in columns.values() if facts == facts_name}
        if wanted:
            facts = getattr(ctx, facts_name)
            aggregated = facts.group_by("customer_id").aggregate(**wanted)
            out = out.left_join(aggregated, "customer_id").drop("customer_id_right")
    known = {key: out[name] for key, (_, name, _) in columns.items()}
    return out, compile_condition(condition, out, ctx, known)


def _behaviour_key(kind: str, spec: dict) -> str:
    import json

    return json.dumps({kind: spec}, sort_keys=True, ensure_ascii=False)


def _collect(condition: dict, ctx: RuleContext, columns: dict) -> None:
    """Fill `columns` with the aggregate of every behaviour condition compile_rule computes in one pass."""
    for part in (
        condition.get("all") or condition.get("any") or ([condition["not"]] if "not" in condition else [])
    ):
        _collect(part, ctx, columns)
    kind = next(iter(condition))
    if kind not in ("bought", "spent", "event") or "field" in condition:
        return
    spec = condition[kind]
    if kind == "bought" and ("product_id" in spec or "product_name" in spec):
        return  # order lines: counted per order by compile_condition
    key = _behaviour_key(kind, spec)
    if key in columns:
        return
    facts = ctx.events if kind == "event" else ctx.purchases
    at = "occurred_at" if kind == "event" else "order_time"
    keep = []
    if kind == "event" and "type" in spec:
        keep.append(facts.event_type == spec["type"])
    for name, value in spec.get("with", {}).items() if kind == "event" else ():
        keep.append(event_property(facts, name) == value)
    for name in ("source", "store"):
        if name in spec:
            keep.append(facts[name] == spec[name])
    if "within_days" in spec:
        since = ibis.literal(ctx.cutoff - timedelta(days=spec["within_days"]), type=facts[at].type())
        keep.append(facts[at] >= since)
    where = ibis.and_(*keep) if keep else None
    aggregate = facts.amount.sum(where=where) if kind == "spent" else facts.count(where=where)
    columns[key] = ("events" if kind == "event" else "purchases", f"_siyu_rule_{len(columns)}", aggregate)


def compile_condition(
    condition: dict, row: ibis.Table, ctx: RuleContext, known: dict | None = None
) -> ibis.BooleanValue:
    """An Ibis boolean over `row` (one traits row per customer); a checked condition (check_condition).
    `known`: behaviour conditions already aggregated into columns of `row` (compile_rule)."""
    if "all" in condition:
        return ibis.and_(*(compile_condition(c, row, ctx, known) for c in condition["all"]))
    if "any" in condition:
        return ibis.or_(*(compile_condition(c, row, ctx, known) for c in condition["any"]))
    if "not" in condition:
        return ~compile_condition(condition["not"], row, ctx, known)
    if "field" in condition:
        return _compile_field(condition, row).fill_null(False)
    kind = next(iter(condition))
    if known and kind in ("bought", "spent", "event"):
        column = known.get(_behaviour_key(kind, condition[kind]))
        if column is not None:  # a missing count or sum (no fact at all) is false, as below
            return (column >= condition[kind]["at_least"]).fill_null(False)
    if "bought" in condition:
        spec = condition["bought"]
        if "product_id" in spec or "product_name" in spec:
            facts = ctx.purchase_items
            matches = []
            if "product_id" in spec:
                matches.append((facts.product_id == spec["product_id"]) | (facts.sku == spec["product_id"]))
            if "product_name" in spec:
                matches.append(facts.product.contains(spec["product_name"]))
            facts = facts.filter(ibis.or_(*matches).fill_null(False))
            per_order = True  # several lines of one order count once
        else:
            facts, per_order = ctx.purchases, False  # one row per order already
        return _behaviour(row, _on_channel(facts, spec), "order_time", spec, ctx, per_order=per_order)
    if "event" in condition:
        spec = condition["event"]
        facts = ctx.events
        if "type" in spec:
            facts = facts.filter(facts.event_type == spec["type"])
        facts = with_properties(facts, spec.get("with", {}))
        return _behaviour(row, facts, "occurred_at", spec, ctx, per_order=False)
    if "customer_group" in condition:
        return _in_group(row, condition["customer_group"], ctx)
    if kind in LOYALTY_KINDS:
        return row.customer_id.isin(_loyalty_ids(kind, condition[kind], ctx))
    if "spent" in condition:
        spec = condition["spent"]
        facts = _on_channel(ctx.purchases, spec)
        if "within_days" in spec:
            since = ctx.cutoff - timedelta(days=spec["within_days"])
            facts = facts.filter(facts.order_time >= ibis.literal(since, type=facts.order_time.type()))
        sums = facts.group_by("customer_id").aggregate(spent=facts.amount.sum())
        return row.customer_id.isin(sums.filter(sums.spent >= spec["at_least"]).customer_id)
    kind = next(iter(condition))
    if ctx.control is None:
        raise RuleError(f"{kind!r} conditions are for segments only")
    ids, negate = ctx.control[control_key(kind, condition[kind])]
    return row.customer_id.notin(ids) if negate else row.customer_id.isin(ids)


def names_prediction(condition: dict) -> bool:
    """Whether a checked condition tree names a prediction field (PREDICTION_FIELDS)."""
    if "all" in condition or "any" in condition:
        return any(names_prediction(part) for part in condition.get("all") or condition.get("any"))
    if "not" in condition:
        return names_prediction(condition["not"])
    return condition.get("field") in PREDICTION_FIELDS


def control_key(kind: str, spec) -> str:
    """The key of a control-plane condition in RuleContext.control."""
    import json

    return json.dumps({kind: spec}, sort_keys=True, ensure_ascii=False)


def control_conditions(condition: dict) -> list[tuple[str, object]]:
    """The control-plane conditions (kind, spec) in a checked condition tree."""
    if "all" in condition or "any" in condition:
        return [c for part in condition.get("all") or condition.get("any") for c in control_conditions(part)]
    if "not" in condition:
        return control_conditions(condition["not"])
    kind = next(iter(condition))
    return [(kind, condition[kind])] if kind in CONTROL_KINDS else []


def _in_group(row: ibis.Table, spec: dict, ctx: RuleContext) -> ibis.BooleanValue:
    """In a customer group at the cut-off, or an early leaver (a stay that ended within N days)."""
    if ctx.group_stays is None:
        raise RuleError("group conditions need the warehouse's group stays")
    stays = ctx.group_stays
    if "type" in spec:
        stays = stays.filter(stays.group_type == spec["type"])
    cut = ibis.literal(ctx.cutoff, type=stays.joined_at.type())
    if "left_within_days" in spec:
        stays = stays.filter(
            (stays.left_at < cut)
            & (stays.left_at.epoch_seconds() - stays.joined_at.epoch_seconds() <= spec["left_within_days"] * 86_400)
        )
    else:
        stays = stays.filter(stays.left_at.isnull() | (stays.left_at >= cut))
    return row.customer_id.isin(stays.customer_id)


def _table(ctx: RuleContext, name: str) -> ibis.Table:
    table = getattr(ctx, name)
    if table is None:
        raise RuleError("loyalty and survey conditions are for segments only")
    return table


def _local_day(ctx: RuleContext):
    return ctx.cutoff.astimezone(ZoneInfo(settings.TIME_ZONE)).date()


def _loyalty_ids(kind: str, spec: dict, ctx: RuleContext) -> ibis.Column:
    """The customer ids for whom a loyalty / survey condition holds (see the module doc)."""
    if kind == "survey_answer":
        answers = _table(ctx, "survey_answers")
        answers = answers.filter(
            (answers.survey_id == spec["survey_id"])
            & (answers.question_id == spec["question_id"])
            & answers.answer.isin(spec["answers"])
        )
        return answers.customer_id
    if kind == "coupon":
        coupons = _table(ctx, "loyalty_coupons")
        if "template_id" in spec:
            coupons = coupons.filter(coupons.template_id == spec["template_id"])
        if spec["status"] == "used":
            coupons = coupons.filter(coupons.status == "used")
        elif spec["status"] == "usable":
            cut = ibis.literal(ctx.cutoff, type=coupons.expires_at.type())
            coupons = coupons.filter(
                (coupons.status == "unused") & (coupons.expires_at.isnull() | (coupons.expires_at > cut))
            )
        return coupons.customer_id
    members = _table(ctx, "loyalty_members")
    keep = []
    if kind == "points":
        if "at_least" in spec:
            keep.append(members.points_available >= spec["at_least"])
        if "at_most" in spec:
            keep.append(members.points_available <= spec["at_most"])
    elif kind == "tier":
        if "in" in spec:
            keep.append(members.tier_code.isin(spec["in"]))
        if "rank_at_least" in spec:
            keep.append(members.tier_rank >= spec["rank_at_least"])
    else:
        today = _local_day(ctx)
        if "streak_at_least" in spec:
            alive = members.last_checkin_on >= ibis.literal(today - timedelta(days=1), type="date")
            keep.append(alive & (members.checkin_streak >= spec["streak_at_least"]))
        if "within_days" in spec:
            since = today - timedelta(days=spec["within_days"] - 1)
            keep.append(members.last_checkin_on >= ibis.literal(since, type="date"))
    return members.filter(ibis.and_(*keep).fill_null(False)).customer_id


def _on_channel(facts: ibis.Table, spec: dict) -> ibis.Table:
    if "source" in spec:
        facts = facts.filter(facts.source == spec["source"])
    if "store" in spec:
        facts = facts.filter(facts.store == spec["store"])
    return facts


def _compile_field(condition: dict, row: ibis.Table) -> ibis.BooleanValue:
    column, op = row[condition["field"]], condition["op"]
    value = condition.get("value")
    if op == "is null":
        return column.isnull()
    if op == "is not null":
        return column.notnull()
    if op == "between":
        return column.between(*value)
    if op == "in":
        return column.isin(value)
    if op == "not in":
        return column.notin(value)
    if op == "contains":
        return column.contains(value)
    return getattr(column, COMPARISONS[op])(value)


def _behaviour(row, facts, at: str, spec: dict, ctx: RuleContext, *, per_order: bool) -> ibis.BooleanValue:
    """Customers with at least `at_least` facts (orders, or events) in the `within_days` before the
    cut-off. `per_order`: the facts are order lines, count their distinct orders."""
    if "within_days" in spec:
        since = ibis.literal(ctx.cutoff - timedelta(days=spec["within_days"]), type=facts[at].type())
        facts = facts.filter(facts[at] >= since)
    counts = facts.group_by("customer_id").aggregate(
        n=facts.order_key.nunique() if per_order else facts.count()
    )
    return row.customer_id.isin(counts.filter(counts.n >= spec["at_least"]).customer_id)
