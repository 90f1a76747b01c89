"""The filters every analytics page takes: a date range (local dates, both ends included), channels
(import sources) and stores. Parsed and checked here, once, for the console, the API and exports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import ibis
from django.conf import settings

from siyu.analytics.errors import InvalidFilters
from siyu.warehouse.schema import TS

DEFAULT_DAYS = 90
COHORT_DEFAULT_DAYS = 365  # cohorts need months
MAX_DAYS = 3660  # ten years: longer ranges are a typo
MAX_CHOICES = 100
MAX_NAME = 200


def zone() -> str:
    return settings.TIME_ZONE


@dataclass(frozen=True)
class Filters:
    date_from: date
    date_to: date
    channels: tuple[str, ...] = field(default=())
    stores: tuple[str, ...] = field(default=())

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    @property
    def start(self) -> datetime:
        """The first instant of the range (UTC)."""
        return local_midnight(self.date_from)

    @property
    def end(self) -> datetime:
        """The first instant after the range (UTC)."""
        return local_midnight(self.date_to + timedelta(days=1))

    def previous(self) -> Filters:
        """The period of the same length just before this one."""
        return Filters(
            self.date_from - timedelta(days=self.days),
            self.date_from - timedelta(days=1),
            self.channels,
            self.stores,
        )

    def as_dict(self) -> dict:
        return {
            "date_from": self.date_from.isoformat(),
            "date_to": self.date_to.isoformat(),
            "channels": list(self.channels),
            "stores": list(self.stores),
        }


def default_days(page: str) -> int:
    return COHORT_DEFAULT_DAYS if page == "cohorts" else DEFAULT_DAYS


def default_today(page: str) -> date | None:
    """The day a range without an end ends on: today for pages about touches (which go on after the
    last imported purchase); None (the last day with a purchase) for the others."""
    return datetime.now(ZoneInfo(zone())).date() if page == "touch_grid" else None


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=ZoneInfo(zone())).astimezone(UTC)


def instant(value: datetime):
    """A UTC timestamp literal for Ibis filters."""
    return ibis.literal(value, type=TS)


def _parse_date(text, name: str) -> date | None:
    if text in (None, ""):
        return None
    if isinstance(text, date):
        return text
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError as exc:
        raise InvalidFilters(f"{name} must be a date like 2026-01-31, not {str(text)[:40]!r}") from exc


def _names(values, name: str) -> tuple[str, ...]:
    if values in (None, ""):
        return ()
    if isinstance(values, str):
        values = values.split(",")
    cleaned = sorted({str(v).strip() for v in values if str(v).strip()})
    if len(cleaned) > MAX_CHOICES or any(len(v) > MAX_NAME for v in cleaned):
        raise InvalidFilters(f"too many or too long {name} (at most {MAX_CHOICES} of {MAX_NAME} characters)")
    return tuple(cleaned)


def parse_filters(
    date_from=None, date_to=None, channels=None, stores=None, *, default_days: int = DEFAULT_DAYS, today=None
) -> Filters:
    """Filters from user input. Missing dates: the `default_days` days up to `today` (the last day with
    a purchase, so that an old import still shows something) or up to `date_to`."""
    start = _parse_date(date_from, "date_from")
    end = _parse_date(date_to, "date_to")
    if end is None:
        if today is None:
            from siyu.analytics.facts import last_purchase_day  # facts imports this module

            today = last_purchase_day() or datetime.now(ZoneInfo(zone())).date()
        end = max(today, start) if start else today
    if start is None:
        start = end - timedelta(days=default_days - 1)
    if start > end:
        raise InvalidFilters(f"date_from {start} is after date_to {end}")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidFilters(f"the date range is longer than {MAX_DAYS} days")
    if start.year < 1990 or end.year > 2200:
        raise InvalidFilters("dates must lie between 1990 and 2200")
    return Filters(start, end, _names(channels, "channels"), _names(stores, "stores"))
