"""Live codes (渠道活码) in the analytics pages: what came through each code channel and campaign (channel
ROI), the code channels between the WeCom pool and the outcomes (traffic map), and a funnel of the people
added through a code (funnel).

Analytics sits below acquisition (DESIGN §7) and cannot read its codes. Acquisition registers here, in its
AppConfig.ready(), three things built on `siyu.acquisition.quality`:

- `register_code_quality(provider)`: provider(*, as_of, added_from, added_to, dimensions) → the quality
  rows per dimension ({"channel": [row…], "campaign": [row…]}, rows as
  `siyu.acquisition.quality.acquisition_quality` gives them), or None when there are no codes;
- `register_code_attribution(provider)`: provider(con, *, as_of) → an Ibis table of the resolved customers
  first added through a code by `as_of` (customer_id, channel, campaign, added_at, deleted_at: the first
  delete of that contact after the add, NULL while it lasts), or None when there are no codes;
- `register_code_channel_labels(words)`: the words for a code's channel.

With nothing registered, or no codes, the pages carry no live-code tables and no code nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from siyu.analytics import facts
from siyu.analytics.facts import left_join, rows
from siyu.analytics.filters import Filters, instant

DAY = 86_400  # seconds

_PROVIDERS: dict[str, Callable] = {}
_CHANNEL_WORDS: dict[str, object] = {}


def register_code_quality(provider: Callable) -> None:
    _PROVIDERS["quality"] = provider


def register_code_attribution(provider: Callable) -> None:
    _PROVIDERS["attribution"] = provider


def register_code_channel_labels(words: Mapping[str, object]) -> None:
    _CHANNEL_WORDS.clear()
    _CHANNEL_WORDS.update(words)


def code_channel_words(channel: str | None) -> str:
    """The words for a code's channel (the channel code itself when acquisition named none)."""
    return str(_CHANNEL_WORDS.get(channel, channel or "—"))


def attribution(con, f: Filters):
    """customer_id, code_channel, added_at, deleted_at of the customers first added through a live code by
    the range's end (any time before it), keeping those the channel and store filters keep (acquisition
    channel, a record at a store; as on the funnel); None without codes."""
    provider = _PROVIDERS.get("attribution")
    if provider is None:
        return None
    a = provider(con, as_of=f.end)
    if a is None:
        return None
    a = a.select("customer_id", "added_at", "deleted_at", code_channel=a.channel)
    if f.channels or f.stores:
        kept = facts.customers(con, channels=f.channels, stores=f.stores, acquired_to=f.end)
        a = a.semi_join(kept.select("customer_id"), "customer_id")
    return a


# --- channel ROI: per code channel and per campaign ------------------------------------------------

# the figures of acquisition quality the channel ROI page shows, under the names of its tables
ROI_FIGURES = {
    "adds": "adds",
    "retained_7": "retained_7",
    "retained_7_rate": "retention_7",
    "retained_30": "retained_30",
    "retained_30_rate": "retention_30",
    "buyers_90": "buyers_90",
    "gmv_90": "gmv_90",
    "code_cost": "cost",
    "cost_per_retained": "cost_per_retained",
    "cost_per_buyer": "cost_per_buyer",
    "roi_90": "roi_90",
}


def roi_tables(f: Filters) -> dict[str, list[dict]]:
    """`code_channels` and `code_campaigns`: the quality of the adds in the range, per code channel and per
    campaign, figures counted up to the range's end; {} without codes."""
    provider = _PROVIDERS.get("quality")
    if provider is None:
        return {}
    found = provider(as_of=f.end, added_from=f.start, added_to=f.end, dimensions=("channel", "campaign"))
    if not found or not (found.get("channel") or found.get("campaign")):
        return {}

    def table(dimension: str, key: str) -> list[dict]:
        return [
            {key: row["key"], **{name: row[figure] for name, figure in ROI_FIGURES.items()}}
            for row in found.get(dimension, [])
        ]

    return {"code_channels": table("channel", "code_channel"), "code_campaigns": table("campaign", "campaign")}


# --- funnel: through live codes ----------------------------------------------------------------------

CODE_FUNNEL_STAGES = ("added", "kept_7", "bought_30", "repeat")
KEPT_DAYS = 7
BOUGHT_DAYS = 30


def _seconds(earlier, later):
    return later.epoch_seconds() - earlier.epoch_seconds()


def funnel_counts(con, f: Filters) -> list[dict] | None:
    """Per code channel (sorted), the customers first added through a code in the range → still a contact
    7 days after the add → first purchase within 30 days of the add → a second purchase: code_channel and
    a count per stage of CODE_FUNNEL_STAGES, each stage within the one before, everything counted up to the
    range's end; None without codes."""
    a = attribution(con, f)
    if a is None:
        return None
    a = a.filter(a.added_at >= instant(f.start), a.added_at < instant(f.end))
    p = facts.purchases(con, end=f.end).select("customer_id", "order_time")
    j = a.select("customer_id", "added_at").join(p, "customer_id")
    j = j.filter(j.order_time >= j.added_at)
    bought = j.group_by("customer_id").aggregate(first_purchase_at=j.order_time.min(), orders=j.count())
    c = left_join(a, bought)
    kept = c.deleted_at.isnull() | (_seconds(c.added_at, c.deleted_at) > KEPT_DAYS * DAY)
    first_within = c.first_purchase_at.notnull() & (
        _seconds(c.added_at, c.first_purchase_at) <= BOUGHT_DAYS * DAY
    )
    converted = kept & first_within
    counts = rows(
        c.group_by("code_channel").aggregate(
            added=c.count(),
            kept_7=c.count(where=kept),
            bought_30=c.count(where=converted),
            repeat=c.count(where=converted & (c.orders.fill_null(0) >= facts.REPEAT_PURCHASES)),
        )
    )
    return sorted(counts, key=lambda r: r["code_channel"] or "")


# --- traffic map: code channel per customer ---------------------------------------------------------


def code_channel_of_customers(con, f: Filters):
    """customer_id, code_channel of the customers first added through a live code by the range's end;
    None without codes."""
    a = attribution(con, f)
    return None if a is None else a.select("customer_id", "code_channel")
