from django.apps import AppConfig


class WarehouseConfig(AppConfig):
    name = "siyu.warehouse"
    label = "warehouse"
    verbose_name = "Warehouse"

    def ready(self):
        from siyu.core.jobs import register_data_plane
        from siyu.warehouse import connection

        # opening the DuckDB file is how a process claims it (WarehouseBusy when another one owns it);
        # looked up at each claim, so the connection module stays the one place that opens it. A Spark
        # warehouse has no owner: any process may write it (siyu.warehouse.spark_store)
        register_data_plane(lambda: None if connection.engine() == "spark" else connection.raw_connection())
