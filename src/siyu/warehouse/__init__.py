"""The data plane. Every other module touches the warehouse only through this package."""

from siyu.warehouse.connection import (  # noqa: F401
    NotOnThisEngine,
    WarehouseBusy,
    backend,
    engine,
    exclusive_writes,
    raw_connection,
    transaction,
    warehouse_key,
    writer,
)
