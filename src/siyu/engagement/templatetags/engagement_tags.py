from django import template

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
