"""Formatting for the console: money in yuan, times in the configured zone, labels for code names."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from django import template
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from siyu.console import labels
from siyu.core.labels import label
from siyu.customers.labels import CONSENT_CHANNELS, CONSENT_STATUSES, GENDERS, STAGES
from siyu.ingest.labels import FORMATS, source_labels
from siyu.segments.labels import AIPL_STAGES, RFM_LAYERS, VALUE_LAYERS
from siyu.staff.labels import ROLES
from siyu.staff.models import ANALYTICS_ROLES
from siyu.staff.queries import can_import, has_role, role_of

register = template.Library()


@register.filter
def money(value) -> str:
    """`1234.5` -> `¥1,234.50`; empty stays empty."""
    if value is None or value == "":
        return "—"
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    return f"¥{amount:,.2f}"


@register.filter
def count(value) -> str:
    if value is None or value == "":
        return "—"
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def _as_datetime(value):
    if value is None or value == "":
        return None
    if hasattr(value, "to_pydatetime"):  # pandas.Timestamp
        if str(value) == "NaT":
            return None
        value = value.to_pydatetime()
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        if timezone.is_naive(value):
            value = value.replace(tzinfo=dt.UTC)  # the warehouse stores UTC
        return timezone.localtime(value)
    return value


@register.filter
def when(value, fmt: str = "Y-m-d H:i") -> str:
    """A warehouse or control-plane time in the configured TIME_ZONE."""
    value = _as_datetime(value)
    if value is None:
        return "—"
    if isinstance(value, dt.datetime | dt.date):
        return date_format(value, fmt)
    return str(value)


@register.filter
def day(value) -> str:
    return when(value, "Y-m-d")


@register.filter
def stage_label(value) -> str:
    return label(STAGES, value) or "—"


@register.filter
def rfm_label(value) -> str:
    return label(RFM_LAYERS, value) or "—"


@register.filter
def value_layer_label(value) -> str:
    return label(VALUE_LAYERS, value) or "—"


@register.filter
def aipl_label(value) -> str:
    return label(AIPL_STAGES, value) or "—"


@register.filter
def share(value, digits: int = 0) -> str:
    """`0.3333` -> `33%` (`|share:1` -> `33.3%`); empty stays empty."""
    if value is None or value == "":
        return "—"
    try:
        return f"{float(value) * 100:.{int(digits)}f}%"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def format_label(value) -> str:
    return label(FORMATS, value)


@register.filter
def job_kind_label(value) -> str:
    return label(labels.JOB_KINDS, value)


@register.filter
def job_status_label(value) -> str:
    return label(labels.JOB_STATUSES, value)


_GONE = re.compile(r"its process is gone \(pid (\d+) on host ([^)]+)\)")
_SILENT = re.compile(r"pid (\d+) on host ([^)]+)\) stopped renewing its lease")


@register.filter
def job_stopped(job) -> str:
    """In the operator's words, why a job failed when the process running it died (the reason
    siyu.core.actions.recover_lost_work records names the pid and host); "" for any other failure."""
    error = getattr(job, "error", "") or ""
    if not error.startswith("interrupted:"):
        return ""
    if found := _GONE.search(error):
        return _(
            "The program running this job stopped (process %(pid)s on %(host)s) before the job ended. "
            "Nothing more will happen to it; start it again."
        ) % {"pid": found[1], "host": found[2]}
    if found := _SILENT.search(error):
        return _(
            "The program running this job (process %(pid)s on %(host)s) stopped answering before the job "
            "ended. Nothing more will happen to it; start it again."
        ) % {"pid": found[1], "host": found[2]}
    return _("The program running this job stopped before the job ended. Start it again.")


@register.filter
def consent_label(value) -> str:
    return label(CONSENT_STATUSES, value)


@register.filter
def channel_label(value) -> str:
    return label(CONSENT_CHANNELS, value)


@register.filter
def gender_label(value) -> str:
    return label(GENDERS, value)


@register.filter
def role_label(value) -> str:
    return label(ROLES, value)


@register.filter
def percent(done, total) -> int:
    try:
        done, total = int(done or 0), int(total or 0)
    except (TypeError, ValueError):
        return 0
    if total <= 0:
        return 0
    return max(0, min(100, round(done * 100 / total)))


@register.filter
def as_list(value) -> list:
    """Sources and tags arrive as lists, tuples, numpy arrays or a comma-separated string."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    try:
        return [item for item in value if item not in (None, "")]
    except TypeError:
        return [value]


@register.filter
def blank(value) -> str:
    return "—" if value is None or value == "" else value


@register.simple_tag(takes_context=True)
def console_nav(context) -> dict:
    """Navigation flags for base.html: `{% console_nav as nav %}`."""

    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"can_import": False, "role": None, "name": ""}
    profile = getattr(user, "staff", None)

    return {
        "can_import": can_import(user),
        "can_analyse": has_role(user, ANALYTICS_ROLES),
        "role": role_of(user),
        "name": (profile.display_name if profile is not None else "") or user.get_username(),
    }


@register.filter
def result_key_label(value) -> str:
    return label(labels.RESULT_KEYS, value)


@register.filter
def change_size(value, rate: bool = False) -> str:
    """How much a figure moved, without its sign (the arrow gives it): a relative change `0.125` -> `12.5%`;
    for a rate, percentage points `1.25` -> `1.3`."""
    if value is None:
        return "—"
    return f"{abs(value):.1f}" if rate else f"{abs(value) * 100:.1f}%"


@register.filter
def points(value) -> str:
    """A difference of two rates in percentage points, signed: `0.0213` -> `+2.1`."""
    if value is None:
        return "—"
    return f"{float(value) * 100:+.1f}"


@register.simple_tag(takes_context=True)
def source_label(context, source) -> str:
    """A source (the channel name given at import) in words (siyu.ingest.labels.source_words); the
    sources are read once per request."""
    if source in (None, ""):
        return ""
    request = context.get("request")
    words = getattr(request, "siyu_source_words", None)
    if words is None:
        words = source_labels()
        if request is not None:
            request.siyu_source_words = words
    return words.get(str(source), str(source))
