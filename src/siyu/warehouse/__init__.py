"""The data plane. Every other module touches the warehouse only through this package."""

from siyu.warehouse.connection import WarehouseBusy, backend, raw_connection, transaction  # noqa: F401
