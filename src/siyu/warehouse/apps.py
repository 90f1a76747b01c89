from django.apps import AppConfig
from django.conf import settings
from django.core.signals import setting_changed

from siyu.warehouse.spark_types import read_timestamps_as_utc


class WarehouseConfig(AppConfig):
    name = "siyu.warehouse"
    label = "warehouse"
    verbose_name = "Warehouse"

    def ready(self):
        from siyu.core.jobs import register_data_plane
        from siyu.warehouse import ciphertexts, connection

        ciphertexts.register()  # key rotation re-encrypts its PII columns (siyu.core.rotation)

        # opening the DuckDB file is how a process claims it (WarehouseBusy when another one owns it);
        # looked up at each claim, so the connection module stays the one place that opens it. A Spark
        # warehouse has no owner: any process may write it (siyu.warehouse.spark_store)
        register_data_plane(lambda: None if connection.engine() == "spark" else connection.raw_connection())
        # Spark's instants read as UTC like DuckDB's (siyu.warehouse.spark_types); pyspark is imported only
        # when Spark is the engine, at start or when a setting switches to it (tests)
        if settings.WAREHOUSE_ENGINE == "spark":
            read_timestamps_as_utc()
        setting_changed.connect(_engine_changed, dispatch_uid="siyu.warehouse.engine")


def _engine_changed(setting, value, **kwargs):
    if setting == "WAREHOUSE_ENGINE" and value == "spark":
        read_timestamps_as_utc()
