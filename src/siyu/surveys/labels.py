"""The words operators read for surveys' codes: a survey's status, a question's kind, the traits a persona
report buckets respondents by. English msgids, Chinese in this app's catalogue."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from siyu.core.labels import label
from siyu.customers.labels import STAGES
from siyu.segments.labels import AIPL_STAGES, RFM_LAYERS, VALUE_LAYERS

# siyu.surveys.models.Survey.Status
STATUSES = {
    "draft": _("Draft"),
    "open": _("Collecting answers"),
    "closed": _("Closed"),
}

# siyu.surveys.models.Question.Kind
KINDS = {
    "single": _("Single choice"),
    "multiple": _("Multiple choice"),
    "scale": _("Scale"),
    "text": _("Text answer"),
}

# The traits a persona report buckets respondents by (siyu.surveys.queries.TRAIT_BUCKETS): name -> words,
# and the words of each trait's values.
TRAITS = {
    "rfm_layer": _("RFM layer"),
    "value_layer": _("Value layer"),
    "lifecycle_stage": _("Lifecycle stage"),
    "aipl_stage": _("AIPL stage"),
    "clv_band": _("Predicted CLV band (yuan)"),
}
CLV_BANDS = {
    "0-200": _("Under 200"),
    "200-1000": _("200 to 1,000"),
    "1000-5000": _("1,000 to 5,000"),
    "5000+": _("5,000 and more"),
}
NO_VALUE = _("Not known")
TRAIT_VALUES = {
    "rfm_layer": RFM_LAYERS,
    "value_layer": VALUE_LAYERS,
    "lifecycle_stage": STAGES,
    "aipl_stage": AIPL_STAGES,
    "clv_band": CLV_BANDS,
}


def status_label(value: str) -> str:
    return label(STATUSES, value)


def kind_label(value: str) -> str:
    return label(KINDS, value)


def trait_label(name: str) -> str:
    return label(TRAITS, name)


def trait_value_label(name: str, value) -> str:
    if value is None or value == "":
        return str(NO_VALUE)
    return label(TRAIT_VALUES.get(name, {}), value)
