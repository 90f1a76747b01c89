"""The Spark session behind the warehouse when SIYU_WAREHOUSE names a Spark master (DESIGN.md §1, §6).

One session per process. A local master (`local[N]`) runs Spark inside this process (CI, a single host);
`spark://…`, `yarn`, `k8s://…` submit to a cluster; `sc://host:port` speaks Spark Connect to one.
Splink's Jaro-Winkler needs its jar on the classpath and its clustering a checkpoint directory.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from django.conf import settings

_lock = threading.Lock()
_session = None


def session():
    """This process's SparkSession over the warehouse (created on first use, about 5 s for local)."""
    global _session
    with _lock:
        if _session is not None:
            return _session
        from pyspark.sql import SparkSession  # optional dependency: siyu[spark]

        master = settings.WAREHOUSE_SPARK_MASTER
        if master.startswith("sc://"):
            builder = SparkSession.builder.remote(master)
        else:
            from splink.backends.spark import similarity_jar_location

            builder = (
                SparkSession.builder.master(master)
                .config("spark.jars", similarity_jar_location())
                .config("spark.sql.session.timeZone", "UTC")
                .config("spark.ui.enabled", "false")
                .config("spark.sql.shuffle.partitions", os.environ.get("SIYU_SPARK_SHUFFLE_PARTITIONS", "8"))
                .config("spark.sql.warehouse.dir", str(settings.WAREHOUSE_LOCATION))
                .config("spark.ui.showConsoleProgress", "false")  # progress bars would flood the CLI's output
                .config("spark.cleaner.referenceTracking.cleanCheckpoints", "true")
            )
            if master.startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
                # Python workers (resolution's feature UDF, siyu.identity.spark_features) run this process's
                # interpreter and its packages (polars, pypinyin), not the first python3 on the PATH
                # (pyspark reads the variable when the SparkContext starts)
                os.environ["PYSPARK_PYTHON"] = sys.executable
            if os.environ.get("SIYU_SPARK_DRIVER_MEMORY"):  # read when the JVM starts (Spark's default: 1g)
                builder = builder.config("spark.driver.memory", os.environ["SIYU_SPARK_DRIVER_MEMORY"])
        _session = builder.appName("siyu").getOrCreate()
        if not master.startswith("sc://"):
            checkpoints = Path(str(settings.WAREHOUSE_LOCATION)) / "_checkpoints"
            _session.sparkContext.setCheckpointDir(str(checkpoints))
        return _session


def stop() -> None:
    """End this process's session (tests; a worker leaving)."""
    global _session
    with _lock:
        if _session is not None:
            _session.stop()
        _session = None
