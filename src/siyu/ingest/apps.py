from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IngestConfig(AppConfig):
    name = "siyu.ingest"
    label = "ingest"

    def ready(self):
        from siyu.core.rotation import register_ciphertexts
        from siyu.ingest import rejected

        register_ciphertexts("rejected-rows files", rejected.sealed_count_by_key, rejected.reseal_batch)

        from siyu.core.retention import register_retention, setting_days
        from siyu.warehouse.retention import delete_raw_rows_before

        register_retention(
            "raw_rows", _("raw rows as imported"), setting_days("RAW_ROWS_RETENTION_DAYS"),
            lambda cut_off, dry_run: delete_raw_rows_before(cut_off, dry_run=dry_run),
        )
        register_retention(
            "rejected_rows", _("rejected-rows files"), setting_days("REJECTED_ROWS_RETENTION_DAYS"), rejected.purge_before
        )
