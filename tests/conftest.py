import shutil

import pytest


@pytest.fixture(autouse=True)
def fresh_wecom_clients():
    """WeCom clients share access tokens and call limiters per process (a real server keeps them between
    calls); each test starts with none, so one test's fake WeCom never answers another's token."""
    from siyu.engagement.messaging.channels.wecom import WeComClient

    WeComClient._tokens.clear()
    WeComClient._limiters.clear()
    yield
    WeComClient._tokens.clear()
    WeComClient._limiters.clear()


@pytest.fixture
def warehouse(settings, tmp_path):
    """A fresh, empty warehouse file for one test."""
    from siyu.warehouse import connection

    connection.close()
    settings.WAREHOUSE_PATH = tmp_path / "warehouse.duckdb"
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def predicted_template(tmp_path_factory):
    """The synthetic brand of segments/prediction_data.py with its current predictions, computed once per
    session into a template warehouse file."""
    from segments.prediction_data import build_predicted_warehouse

    return build_predicted_warehouse(tmp_path_factory.mktemp("predicted") / "template.duckdb")


@pytest.fixture
def predicted(predicted_template, settings, tmp_path):
    """A copy of the predicted template as this test's warehouse."""
    import shutil

    from siyu.warehouse import connection

    connection.close()
    shutil.copy(predicted_template["path"], tmp_path / "warehouse.duckdb")
    settings.WAREHOUSE_PATH = tmp_path / "warehouse.duckdb"
    yield predicted_template
    connection.close()


@pytest.fixture(scope="session")
def spark_session(tmp_path_factory):
    """One local Spark session (local[2]) for the whole test session, its tables and checkpoints in a
    temporary location (siyu.warehouse.spark); the warehouse settings are restored afterwards."""
    if shutil.which("java") is None:
        pytest.fail("the Spark tests need Java 17 (`make java` installs it)")
    from django.conf import settings

    from siyu.warehouse import connection, spark

    names = ("WAREHOUSE_ENGINE", "WAREHOUSE_SPARK_MASTER", "WAREHOUSE_LOCATION")
    saved = {name: getattr(settings, name) for name in names}
    settings.WAREHOUSE_SPARK_MASTER = "local[2]"
    settings.WAREHOUSE_LOCATION = str(tmp_path_factory.mktemp("warehouse-spark"))
    try:
        session = spark.session()
        session.sparkContext.setLogLevel("ERROR")
        yield session
    finally:
        spark.stop()
        connection.close()
        for name, value in saved.items():
            setattr(settings, name, value)


@pytest.fixture
def spark_warehouse(spark_session, settings):
    """The warehouse on the session's Spark (settings.WAREHOUSE_ENGINE = "spark") for one test: yields
    siyu.warehouse.backend(), the Spark Ibis backend."""
    from siyu.warehouse import backend

    settings.WAREHOUSE_ENGINE = "spark"
    return backend()


@pytest.fixture
def ring_file(settings, tmp_path):
    """A PII key ring file holding this test's key 0 (as an installation before rotation has), in force."""
    import secrets

    from siyu.core import pii

    path = tmp_path / "keys" / "pii_key"
    path.parent.mkdir()
    key0 = secrets.token_hex(32)
    path.write_text(key0)
    path.chmod(0o600)
    settings.PII_KEY_SOURCE = ("file", path)
    settings.PII_KEY_RING = {0: key0}
    pii._reloaded_ring.clear()
    pii._clear_caches()
    yield path
    pii._reloaded_ring.clear()
    pii._clear_caches()
