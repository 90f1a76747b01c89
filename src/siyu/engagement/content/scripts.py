"""Filling a script's placeholders (话术变量) for one customer.

A placeholder is `{name}`: a name of letters, digits and underscores (Chinese letters too) between single
braces. `{{` and `}}` stand for literal braces. Anything else with a brace is text. Rendering is one pass
over the template (a value that itself contains `{x}` is not expanded again), never evaluates anything
(no attribute or index access, unlike `str.format`), never raises, and reports every placeholder it could
not fill: the placeholder stays in the text as written, so a guide sees it, and its name is in `missing`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

# What a customer's task can fill (siyu.engagement.guides.actions.customer_variables); others come from the
# defaults given when tasks are created.
KNOWN_VARIABLES = {
    "name": "称呼：姓 + 先生/女士（性别未知时为打码姓名）",
    "guide": "导购的显示名",
    "store": "导购所在门店",
    "product": "客户最近购买的商品",
}
# What delivery fills for any send from the recipient's profile (journeys, campaigns, the API): a script's
# other variables name the guide, whom only a task knows.
CUSTOMER_VARIABLES = ("name", "product")
# Customer variables apps above engagement add (the member centre's {member_link}): name -> (words, filler).
# A filler takes customer ids and gives {customer_id: text}; delivery calls it for the sends that use the
# name (siyu.engagement.content.queries.customer_variables). Registered in the app's AppConfig.ready().
REGISTERED_VARIABLES: dict[str, tuple[str, object]] = {}


def register_customer_variable(name: str, words: str, fill) -> None:
    if not re.fullmatch(r"\w{1,64}", name) or name in CUSTOMER_VARIABLES:
        raise ValueError(f"{name!r} cannot be a customer variable")
    REGISTERED_VARIABLES[name] = (words, fill)


def customer_variable_names() -> tuple[str, ...]:
    """The variables delivery fills from the recipient: the built-in ones and the registered ones."""
    return CUSTOMER_VARIABLES + tuple(REGISTERED_VARIABLES)
MAX_VALUE = 2_000  # characters of one filled value

TOKEN = re.compile(r"\{\{|\}\}|\{(\w{1,64})\}")


@dataclass(frozen=True)
class Rendered:
    text: str
    missing: tuple[str, ...] = field(default=())  # placeholders left unfilled, in order of first use


def placeholders(template: str) -> list[str]:
    """The placeholder names of a template, in order of first use."""
    names: list[str] = []
    for match in TOKEN.finditer(template or ""):
        name = match.group(1)
        if name and name not in names:
            names.append(name)
    return names


def visible(text: str) -> str:
    """`text` without control characters (Unicode Cc) other than newline and tab: they would garble a
    message or a guide's screen."""
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")


def _text(value) -> str | None:
    """A value as text, or None when there is none to show (None, blank, or only control characters)."""
    if value is None:
        return None
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:  # noqa: BLE001 - an object whose __str__ fails counts as no value
        return None
    text = visible(text)[:MAX_VALUE]
    return text if text.strip() else None


def render(template: str, values: dict) -> Rendered:
    """Fill `template` from `values` (see the module docstring)."""
    template = template if isinstance(template, str) else ""
    missing: list[str] = []
    parts: list[str] = []
    last = 0
    for match in TOKEN.finditer(template):
        parts.append(template[last : match.start()])
        last = match.end()
        token, name = match.group(0), match.group(1)
        if name is None:
            parts.append(token[0])  # {{ -> {, }} -> }
            continue
        text = _text(values.get(name)) if isinstance(values, dict) else None
        if text is None:
            parts.append(token)
            if name not in missing:
                missing.append(name)
        else:
            parts.append(text)
    parts.append(template[last:])
    return Rendered("".join(parts), tuple(missing))


def referenced_names(subject: str, content: str, variables: dict) -> list[str]:
    """The placeholders a message needs from outside itself, in order of first use: named in a variable's
    value, or in the subject or content and not given by a variable of that name."""
    names = [
        n
        for value in variables.values()
        if isinstance(value, str) and "{" in value
        for n in placeholders(value)
    ]
    names += [
        n for text in (subject, content) if "{" in text for n in placeholders(text) if n not in variables
    ]
    return list(dict.fromkeys(names))


def customer_placeholders(subject: str, content: str, variables: dict) -> set[str]:
    """The customer variables a message needs filled (see `referenced_names`)."""
    return set(referenced_names(subject, content, variables)) & set(customer_variable_names())


def fill_message(
    subject: str, content: str, variables: dict, customer: dict
) -> tuple[str, str, dict, tuple[str, ...]]:
    """A message filled for one customer: the variables' values from the customer's values, then the
    subject and content from the variables and the customer's values (a variable wins). Returns (subject,
    content, variables, the customer variables that had no value)."""
    names = customer_variable_names()
    values = {k: v for k, v in customer.items() if k in names}
    missing: list[str] = []
    filled = {}
    for key, value in variables.items():
        if isinstance(value, str):
            rendered = render(value, values)
            value = rendered.text
            missing += rendered.missing
        filled[key] = value
    texts = [render(text, {**values, **filled}) for text in (subject, content)]
    missing += [name for text in texts for name in text.missing]
    unfilled = tuple(dict.fromkeys(n for n in missing if n in names))
    return texts[0].text, texts[1].text, filled, unfilled
