"""The words operators read for the import formats and the sources (channels) imported."""

from django.utils.translation import gettext_lazy as _

from siyu.ingest.queries import source_formats
from siyu.web.cache import cached

# The formats an import can be read as (siyu.ingest.sources.formats; "auto" detects one).
FORMATS = {
    "auto": _("Detect automatically"),
    "taobao": _("Taobao / Tmall"),
    "jd": _("JD"),
    "douyin": _("Douyin"),
    "youzan": _("Youzan"),
    "wecom": _("WeCom"),
    "pos": _("Store POS"),
    "generic": _("Generic table"),
}

# Formats that name a platform or a kind of channel (a generic table or an API batch names nothing).
PLATFORMS = {name: words for name, words in FORMATS.items() if name not in ("auto", "generic")}

# Sources Siyu writes itself (events and records of its own apps, not imported from a channel).
OWN_SOURCES = {
    "loyalty": _("Member benefits"),
    "surveys": _("Surveys"),
    "member_centre": _("Member centre"),
}


def source_words(formats: dict[str, str | None]) -> dict[str, str]:
    """Each source (the channel name given at import, siyu.ingest.queries.source_formats) in words. A
    name the operator wrote in words (not only Latin letters, digits, `_`, `.` and `-`) is shown as it
    is; a code-like one (`tmall`, `store_pos`) by its platform's name, followed by the name when
    several sources share the platform; one of no known platform as it is."""
    platforms: dict[str, int] = {}
    for fmt in formats.values():
        platforms[fmt] = platforms.get(fmt, 0) + 1
    words = {}
    for source, fmt in formats.items():
        if source in OWN_SOURCES:
            words[source] = str(OWN_SOURCES[source])
        elif not source.isascii() or fmt not in PLATFORMS:
            words[source] = source
        elif platforms[fmt] > 1:
            words[source] = f"{PLATFORMS[fmt]} · {source}"
        else:
            words[source] = str(PLATFORMS[fmt])
    return words


def source_labels() -> dict[str, str]:
    """Every imported source, and Siyu's own, in words (source_words); a page reads it once and looks
    sources up."""
    formats = cached("ingest:source_formats", source_formats)  # a warehouse query, once per data version
    return {**{source: str(words) for source, words in OWN_SOURCES.items()}, **source_words(formats)}
