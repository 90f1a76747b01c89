import pytest


@pytest.fixture
def warehouse(settings, tmp_path):
    """A fresh, empty warehouse file for one test."""
    from siyu.warehouse import connection

    connection.close()
    settings.WAREHOUSE_PATH = tmp_path / "warehouse.duckdb"
    yield connection
    connection.close()
