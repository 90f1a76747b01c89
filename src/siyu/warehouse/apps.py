from django.apps import AppConfig


class WarehouseConfig(AppConfig):
    name = "siyu.warehouse"
    label = "warehouse"
    verbose_name = "Warehouse"

    def ready(self):
        from siyu.core.jobs import register_data_plane
        from siyu.warehouse.connection import raw_connection

        # opening the DuckDB file is how a process claims it (WarehouseBusy when another one owns it)
        register_data_plane(raw_connection)
