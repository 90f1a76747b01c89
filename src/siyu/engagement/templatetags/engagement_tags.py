from django import template

from siyu.core.labels import label
from siyu.customers.labels import EVENT_TYPES
from siyu.engagement.journeys.labels import JOURNEY_STATUSES
from siyu.engagement.messaging.labels import PROVIDERS, SEND_CHANNELS, SEND_SOURCES, SEND_STATUSES

register = template.Library()


@register.filter
def get_item(mapping, key):
    """`{{ counts|get_item:status }}`: a dict value by a variable key (None when absent)."""
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def percent(value, digits: int = 1):
    """0.1234 → "12.3%" (None → "—")."""
    if value is None:
        return "—"
    return f"{value * 100:.{int(digits)}f}%"


@register.filter
def as_json(value) -> str:
    """A rule or other JSON value as JSON text (Chinese left readable)."""
    import json

    return json.dumps(value, ensure_ascii=False)


@register.filter
def provider_label(value) -> str:
    return label(PROVIDERS, value)


@register.filter
def send_channel_label(value) -> str:
    return label(SEND_CHANNELS, value)


@register.filter
def send_status_label(value) -> str:
    return label(SEND_STATUSES, value)


@register.filter
def send_source_label(value) -> str:
    return label(SEND_SOURCES, value)


@register.filter
def event_label(value) -> str:
    return label(EVENT_TYPES, value)


@register.filter
def journey_status_label(value) -> str:
    return label(JOURNEY_STATUSES, value)


@register.filter
def coupon_template_name(template_id) -> str:
    """The name of a journey step's coupon template."""
    from siyu.loyalty.coupons.queries import template_name  # template tags load before the apps' models

    return template_name(template_id)
