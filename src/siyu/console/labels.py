"""The words for what only the console shows: background jobs (their kinds, statuses and results).
The domains' codes have their words in each app's labels.py (siyu.customers.labels, siyu.segments.labels…).

Unknown values are shown as they are, so new kinds never break a page."""

from django.utils.translation import gettext_lazy as _

JOB_KINDS = {
    "import": _("Import"),
    "resolve": _("Resolve identities"),
    "traits": _("Compute traits"),
    "export": _("Export"),
    "purge_rejected": _("Delete expired rejected rows"),  # jobs of versions before the retention job
    "predict": _("Compute predictions"),
    "wecom_sync": _("Sync WeCom contacts"),
    "scheduled_refresh": _("Daily refresh of traits and segments"),
    "coupon_segment_issue": _("Issue coupons to a segment"),
    "coupon_expiry": _("Expire coupons"),
    "coupon_order_match": _("Match imported orders to coupons"),
    "chat_archive_import": _("Import the chat archive"),
    "group_sync": _("Sync customer groups"),
    "handover_check": _("Check handovers"),
    "journey_points": _("Award journeys' points"),
    "loyalty_birthdays": _("Birthday points"),
    "loyalty_earn": _("Earn points on orders"),
    "loyalty_mirror": _("Copy loyalty into the warehouse"),
    "loyalty_tiers": _("Review member tiers"),
    "points_expiry": _("Expire points"),
    "surveys_mirror": _("Copy survey answers into the warehouse"),
    "backup": _("Back up"),
    "key_status": _("Count ciphertexts per key"),
    "rotate_keys": _("Re-encrypt with the new key"),
    "retire_key": _("Retire an old key"),
    "retention": _("Delete data past its retention period"),
    "privacy_erase": _("Erase a customer's personal information"),
}

JOB_STATUSES = {
    "queued": _("Queued"),
    "running": _("Running"),
    "done": _("Done"),
    "failed": _("Failed"),
}

# The parts of a finished job's result the job page shows (siyu.console.views.imports.result_rows);
# the rest (timings, diagnostics) stays in the API's and the CLI's report.
RESULT_KEYS = {
    "records": _("Records"),
    "customers": _("Customers"),
    "new_customers": _("New customers"),
    "merges": _("Merges"),
    "splits": _("Splits"),
    "quarantined": _("Quarantined identifiers"),
    "mode": _("Resolution"),
    "compared_records": _("Records compared"),
    "run_id": _("Run"),
    "as_of": _("As of"),
    "current": _("Current snapshot"),
    "buyers_in_window": _("Buyers in the RFM window"),
    "horizon_days": _("Prediction horizon (days)"),
    "mean_p_purchase": _("Average probability of a purchase"),
    "staff_members": _("Staff members"),
    "contacts": _("Contacts"),
    "relations": _("Contact relations"),
    "corp_tags": _("Corporate tags"),
    "records_new": _("New records"),
    "records_changed": _("Changed records"),
    "duplicates": _("Duplicates"),
    "seconds": _("Seconds"),
    "deleted": _("Files deleted"),
    "sealed": _("Files encrypted"),
    "retention_days": _("Days kept"),
}

# Result values that are codes
RESOLUTION_MODES = {
    "full": _("Full (every record compared)"),
    "incremental": _("Incremental (new records only)"),
}
