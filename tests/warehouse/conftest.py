"""A warehouse on either engine, for the tests that hold DuckDB's and Spark's writes equal."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def engine_warehouse(request, settings, tmp_path):
    """An empty warehouse on DuckDB (a file) or on Spark (versioned Parquet under a tmp WAREHOUSE_LOCATION),
    settings restored afterwards."""
    from siyu.warehouse import connection

    connection.close()
    settings.WAREHOUSE_PATH = tmp_path / "warehouse.duckdb"
    if request.param == "spark":
        _on_spark(request, settings, tmp_path)
    else:
        settings.WAREHOUSE_ENGINE = "duckdb"
    yield connection
    connection.close()


@pytest.fixture
def empty_spark_warehouse(request, settings, tmp_path):
    """An empty warehouse on Spark only (what DuckDB has no counterpart of: versions, the catalog)."""
    from siyu.warehouse import connection

    connection.close()
    _on_spark(request, settings, tmp_path)
    yield connection
    connection.close()


def _on_spark(request, settings, tmp_path) -> None:
    request.getfixturevalue("spark_session")
    settings.WAREHOUSE_ENGINE = "spark"
    settings.WAREHOUSE_SPARK_MASTER = "local[2]"
    settings.WAREHOUSE_LOCATION = str(tmp_path / "warehouse-spark")
