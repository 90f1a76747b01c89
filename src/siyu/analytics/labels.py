"""The words of the analytics pages: the columns of their tables, the codes their rows hold (factors,
measures, populations, touchpoints, operations, the traffic map's nodes, weekdays) and the reasons a
number is missing. The pages' results keep the code names (the API and the exports use them); the console
shows these words. English msgids, Chinese in the catalogue."""

from __future__ import annotations

import re

from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from siyu.analytics.live_codes import code_channel_words
from siyu.analytics.queries import ALL, REFERRAL_MISSING
from siyu.core.labels import label
from siyu.customers.labels import STAGES

# The funnel's stages (siyu.analytics.queries.FUNNEL_STAGES), as its chart and its table name them
FUNNEL_STAGES = {
    "acquired": _("Acquired"),
    "joined": _("Joined private domain"),
    "converted": _("Bought after joining"),
    "repeat": _("Repeat"),
}

# The stages of the funnel through live codes (siyu.analytics.live_codes.CODE_FUNNEL_STAGES)
CODE_FUNNEL_STAGES = {
    "added": _("Added through a live code"),
    "kept_7": _("Still a contact at 7 days"),
    "bought_30": _("First purchase within 30 days"),
    "repeat": _("Repeat"),
}

# The GMV tree's factors and measures (siyu.analytics.queries.GMV_FACTORS and the factors table)
GMV_MEASURES = {
    "gmv": _("GMV"),
    "orders": _("Orders"),
    "buyers": _("Buyers"),
    "base": _("Customer base"),
    "conversion": _("Conversion"),
    "frequency": _("Purchase frequency"),
    "aov": _("AOV"),
    "spend_per_buyer": _("Spend per buyer"),
}

# The private-domain formula's factors (siyu.analytics.queries.FORMULA_FACTORS) and counts
FORMULA_FACTORS = {
    "retained_base": _("Retained base"),
    "referral_rate": _("Referral rate"),
    "conversion_rate": _("Conversion rate"),
    "aov": _("AOV"),
    "repurchase_rate": _("Repurchase rate"),
}
FORMULA_MEASURES = {
    "buyers": _("Buyers"),
    "repeat_buyers": _("Repeat buyers"),
    "orders": _("Orders"),
    "gmv": _("GMV"),
}

# Why a number is not there (the results' "reason")
REASONS = {
    REFERRAL_MISSING: _(
        "No referral data is collected yet: referral links and live codes that record who brought whom are "
        "not built, and the channel exports carry no referrer."
    ),
}

# The repurchase page's populations
POPULATIONS = {"group": _("Group"), "rest": _("Rest of the base"), "base": _("Whole base")}

# Where a customer was reached (siyu.analytics.queries.TOUCHPOINTS, the touches' channel)
TOUCHPOINTS = {
    "wecom": _("WeCom"),
    "sms": _("SMS"),
    "email": _("Email"),
    "webhook": _("Webhook"),
    "guide": _("Guide 1-on-1"),
    "wecom_chat": _("WeCom chat 1-on-1"),
}

# What reached them (siyu.analytics.queries.OPERATION_KINDS, the touches' source; the outbox's sources)
OPERATIONS = {
    "journey": _("Journey"),
    "campaign": _("Campaign"),
    "task": _("Guide tasks"),
    "manual": _("Manual send"),
    "chat_archive": _("Staff chats (chat archive)"),
}

# The traffic map's private pools and outcomes (siyu.analytics.queries.traffic_map)
POOLS_AND_OUTCOMES = {
    "wecom": _("WeCom contact"),
    "member": _("Member"),
    "wecom_and_member": _("WeCom contact and member"),
    "not_joined": _("Not joined"),
    "bought_after_joining": _("Bought after joining"),
    "not_bought_after_joining": _("No purchase after joining"),
    "deleted": _("Deleted the staff member"),
}

UNKNOWN_STAGE = "unknown"

# Column -> words, for the columns of any page; the tables that name a column otherwise are in
# TABLE_COLUMNS. "<measure>_before" is the measure in the previous period; m<N> a cohort's month N; h<NN>
# an hour of the day.
COLUMNS = {
    "channel": _("Channel"),
    **FUNNEL_STAGES,
    "acquired_to_joined": _("Acquired → joined"),
    "lost_acquired_to_joined": _("Lost before joining"),
    "joined_to_converted": _("Joined → bought"),
    "lost_joined_to_converted": _("Joined, not bought"),
    "converted_to_repeat": _("Bought → repeat"),
    "lost_converted_to_repeat": _("Bought once only"),
    **GMV_MEASURES,
    "gmv_change": _("GMV change"),
    "decomposed": _("Decomposed"),
    "driver": _("Main driver"),
    "factor": _("Factor"),
    "measure": _("Measure"),
    "value": _("This period"),
    "previous": _("Previous period"),
    "available": _("Available"),
    "reason": _("Why not"),
    "customers": _("Customers"),
    "spend": _("Spend (yuan)"),
    "cac": _("CAC"),
    "roi": _("ROI"),
    "payback_month": _("Paid back in month"),
    "paid_back": _("Paid back"),
    "below_spend": _("GMV below spend"),
    "source": _("From"),
    "target": _("To"),
    "closed_orders": _("Orders while closed"),
    "closed_gmv": _("GMV while closed"),
    "closed_order_share": _("Share of orders while closed"),
    "closed_gmv_share": _("Share of GMV while closed"),
    "weekday": _("Weekday"),
    "population": _("Population"),
    "repeat_buyers": _("Repeat buyers"),
    "repurchase_rate": _("Repurchase rate"),
    "touchpoint": _("Touchpoint"),
    # live codes (siyu.analytics.live_codes): the channel ROI's code tables and the funnel through codes
    "code_channel": _("Live code channel"),
    "campaign": _("Campaign"),
    "adds": _("Added through a live code"),
    "retained_7": _("Still a contact at 7 days"),
    "retained_7_rate": _("7-day retention"),
    "retained_30": _("Still a contact at 30 days"),
    "retained_30_rate": _("30-day retention"),
    "buyers_90": _("Bought within 90 days"),
    "gmv_90": _("GMV within 90 days"),
    "code_cost": _("Code cost (yuan)"),
    "cost_per_retained": _("Cost per retained customer"),
    "cost_per_buyer": _("Cost per buyer"),
    "roi_90": _("ROI at 90 days"),
    "added": CODE_FUNNEL_STAGES["added"],
    "kept_7": CODE_FUNNEL_STAGES["kept_7"],
    "bought_30": CODE_FUNNEL_STAGES["bought_30"],
    "added_to_kept_7": _("Added → kept 7 days"),
    "lost_added_to_kept_7": _("Deleted within 7 days"),
    "kept_7_to_bought_30": _("Kept → bought within 30 days"),
    "lost_kept_7_to_bought_30": _("Kept, no purchase within 30 days"),
    "bought_30_to_repeat": _("Bought → repeat"),
    "lost_bought_30_to_repeat": _("Bought once only"),
    "operation": _("Operation"),
    "operation_id": _("Number"),
    "label": pgettext_lazy("name of a thing", "Name"),
    "stage": _("Lifecycle stage"),
    "touches": _("Touches"),
}
TABLE_COLUMNS = {
    "retention_by_month": {"cohort": _("First-purchase month")},
    "ltv_by_month": {"cohort": _("First-purchase month")},
    "retention_by_channel": {"cohort": _("Acquisition channel")},
    "ltv_by_channel": {"cohort": _("Acquisition channel")},
    "contributions": {name: words for name, words in GMV_MEASURES.items() if name in ("base", "conversion",
                                                                                      "frequency", "aov")},
}  # fmt: skip
# tables whose rows are lifecycle stages as columns (siyu.analytics.queries.touch_grid)
STAGE_TABLES = ("touchpoint_stage", "operation_stage")
# tables whose "cohort" is an acquisition channel
CHANNEL_COHORTS = ("retention_by_channel", "ltv_by_channel")

_BEFORE = re.compile(r"^(?P<measure>.+)_before$")
_MONTH = re.compile(r"^m(?P<n>\d+)$")
_HOUR = re.compile(r"^h(?P<hour>\d\d)$")


def stage_label(value: str) -> str:
    """A lifecycle stage of the current traits (or "unknown": traits not computed for the customer)."""
    return str(_("Unknown")) if value == UNKNOWN_STAGE else label(STAGES, value)


def column_label(table: str, column: str) -> str:
    """The heading of `column` in `table`."""
    if column in TABLE_COLUMNS.get(table, {}):
        return str(TABLE_COLUMNS[table][column])
    if table in STAGE_TABLES and (column in STAGES or column == UNKNOWN_STAGE):
        return stage_label(column)
    if column in COLUMNS:
        return str(COLUMNS[column])
    if m := _BEFORE.match(column):
        return gettext("%(measure)s, previous period") % {"measure": column_label(table, m["measure"])}
    if m := _MONTH.match(column):
        return month_label(int(m["n"]))
    if m := _HOUR.match(column):
        return f"{m['hour']}:00"
    return column


def month_label(offset: int) -> str:
    """A cohort's month: 0 is the month of its first purchase."""
    return gettext("Month %(n)s") % {"n": offset}


def weekday_labels() -> list[str]:
    return [gettext("Mon"), gettext("Tue"), gettext("Wed"), gettext("Thu"), gettext("Fri"), gettext("Sat"),
            gettext("Sun")]  # fmt: skip


def factor_label(factor: str) -> str:
    """A factor of the private-domain formula."""
    return label(FORMULA_FACTORS, factor)


def node_label(name: str, sources: dict[str, str], kinds: dict[str, str] | None = None) -> str:
    """A node of the traffic map ("channel:<source>", "pool:<pool>", "code:<live code channel>",
    "outcome:<outcome>"); a channel node says whether the channel is a public or a private pool when
    `kinds` knows it."""
    level, _sep, value = name.partition(":")
    if level == "code":
        # "Live code" first: a code's channel words may be a source's as well, and Sankey nodes must differ
        return f"{gettext('Live code')} · {code_channel_words(value)}"
    if level == "channel":
        words = sources.get(value, value)
        kind = (kinds or {}).get(value)
        if kind is None:
            return words
        return f"{words} · {gettext('public') if kind == 'public' else gettext('private')}"
    return label(POOLS_AND_OUTCOMES, value)


def operation_label(row: dict) -> str:
    """An operation of the touch grid: its kind, and its name or number."""
    kind = label(OPERATIONS, row["operation"])
    if not row.get("operation_id"):
        return f"{kind} —"
    return f"{kind} · {row.get('label') or row['operation_id']}"


def value_label(table: str, column: str, value, sources: dict[str, str]):
    """The words for a code a table's cell holds, or None when the cell is not a code (a number, a date,
    a name)."""
    if column == "channel" or (column == "cohort" and table in CHANNEL_COHORTS):
        return gettext("All channels") if value == ALL else sources.get(value, value)
    if column == "code_channel":
        return gettext("All live codes") if value == ALL else code_channel_words(value)
    if column in ("source", "target") and table == "links":
        return node_label(value, sources)
    if column == "factor":
        return factor_label(value)
    if column == "measure":
        return label(FORMULA_MEASURES, value)
    if column == "driver":
        return label(GMV_MEASURES, value)
    if column == "reason":
        return label(REASONS, value)
    if column == "weekday":
        return weekday_labels()[value]
    if column == "population":
        return label(POPULATIONS, value)
    if column == "touchpoint":
        return label(TOUCHPOINTS, value)
    if column == "operation":
        return label(OPERATIONS, value)
    if column == "stage":
        return stage_label(value)
    return None
