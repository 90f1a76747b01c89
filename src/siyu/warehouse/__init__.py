"""The data plane. Every other module touches the warehouse only through this package."""

from siyu.warehouse.connection import (  # noqa: F401
    NotOnThisEngine,
    WarehouseBusy,
    backend,
    engine,
    exclusive_writes,
    raw_connection,
    table_with_row_ids,
    transaction,
    warehouse_key,
    writer,
)
