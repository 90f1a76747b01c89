"""The words for what only the console shows: background jobs (their kinds, statuses and results).
The domains' codes have their words in each app's labels.py (siyu.customers.labels, siyu.segments.labels…).

Unknown values are shown as they are, so new kinds never break a page."""

from django.utils.translation import gettext_lazy as _

JOB_KINDS = {
    "import": _("Import"),
    "resolve": _("Resolve identities"),
    "traits": _("Compute traits"),
    "export": _("Export"),
    "purge_rejected": _("Delete expired rejected rows"),
}

JOB_STATUSES = {
    "queued": _("Queued"),
    "running": _("Running"),
    "done": _("Done"),
    "failed": _("Failed"),
}

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
