"""The words operators read for the import formats."""

from django.utils.translation import gettext_lazy as _

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
