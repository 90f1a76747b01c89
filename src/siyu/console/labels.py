"""What the console shows for the code names used in the data (formats, stages, job kinds…).

Unknown values are shown as they are, so new stages or formats never break a page.
"""

from django.utils.translation import gettext_lazy as _

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

STAGES = {
    "lead": _("Lead"),
    "prospect": _("Lead"),
    "first_purchase": _("First purchase"),
    "new": _("First purchase"),
    "first": _("First purchase"),
    "repeat": _("Repeat"),
    "loyal": _("Loyal"),
    "dormant": _("Dormant"),
    "at_risk": _("At risk"),
    "churned": _("Churned"),
}

JOB_KINDS = {
    "import": _("Import"),
    "resolve": _("Resolve identities"),
    "traits": _("Compute traits"),
    "export": _("Export"),
    "purge_rejected": _("Delete expired rejected rows"),
}

# The eight classic RFM layers (siyu.segments.traits.RFM_LAYERS) under their Chinese names.
RFM_LAYERS = {
    "important_value": _("Important value customer"),
    "important_develop": _("Important customer to develop"),
    "important_keep": _("Important customer to keep"),
    "important_win_back": _("Important customer to win back"),
    "general_value": _("General value customer"),
    "general_develop": _("General customer to develop"),
    "general_keep": _("General customer to keep"),
    "general_win_back": _("General customer to win back"),
}

VALUE_LAYERS = {
    "top": _("Top (diamond)"),
    "waist": _("Waist"),
    "tail": _("Tail"),
}

AIPL_STAGES = {
    "aware": _("Aware"),
    "interest": _("Interest"),
    "purchase": _("Purchase"),
    "loyalty": _("Loyalty"),
}

JOB_STATUSES = {
    "queued": _("Queued"),
    "running": _("Running"),
    "done": _("Done"),
    "failed": _("Failed"),
}

CONSENT_STATUSES = {
    "opt_in": _("Opted in"),
    "opt_out": _("Do not disturb"),
}

CONSENT_CHANNELS = {
    "all": _("All channels"),
    "wecom": _("WeCom"),
    "sms": _("SMS"),
    "email": _("Email"),
    "official_account": _("Official account"),
    "mini_program": _("Mini program"),
    "phone": _("Phone"),
    "guide": _("1-on-1 by a guide"),
    "ugc": _("Use of buyer shows (UGC)"),
}

# records' normalised gender (siyu.ingest.normalise.values.normalise_gender)
GENDERS = {"M": _("Male"), "F": _("Female")}

ROLES = {
    "admin": _("Administrator"),
    "operator": _("Operator"),
    "manager": _("Store manager"),
    "guide": _("Guide"),
}


def label(table: dict, value) -> str:
    if value is None or value == "":
        return ""
    return str(table.get(str(value), value))


RESULT_KEYS = {
    "records": _("Records"),
    "customers": _("Customers"),
    "new_customers": _("New customers"),
    "merges": _("Merges"),
    "quarantined": _("Quarantined identifiers"),
    "run_id": _("Run"),
    "seconds": _("Seconds"),
    "deleted": _("Files deleted"),
    "sealed": _("Files encrypted"),
    "retention_days": _("Days kept"),
}
