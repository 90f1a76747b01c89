"""A warehouse on either engine, for the tests that hold DuckDB's and Spark's writes equal."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="session")
def spark_session(tmp_path_factory):
    """One Spark session (local[2]) for the whole test session: it takes seconds to start."""
    if shutil.which("java") is None:
        pytest.fail("the Spark tests need Java 17 (`make java` installs it)")
    from django.conf import settings

    from siyu.warehouse import spark

    saved = {k: getattr(settings, k) for k in ("WAREHOUSE_ENGINE", "WAREHOUSE_SPARK_MASTER", "WAREHOUSE_LOCATION")}
    settings.WAREHOUSE_ENGINE = "spark"
    settings.WAREHOUSE_SPARK_MASTER = "local[2]"
    settings.WAREHOUSE_LOCATION = str(tmp_path_factory.mktemp("spark-home"))
    try:
        session = spark.session()
        session.sparkContext.setLogLevel("ERROR")
    finally:
        for key, value in saved.items():
            setattr(settings, key, value)
    yield session
    spark.stop()


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
def spark_warehouse(request, settings, tmp_path):
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
