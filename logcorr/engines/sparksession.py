"""A Spark session for one report: local mode by default, a cluster or Spark Connect on request.

- ``--spark-master URL`` (``spark://host:7077``, ``yarn``, ``local[4]``) picks the master;
  without it, ``SPARK_REMOTE`` (Spark Connect, ``sc://host:15002``) is used when set, else
  ``local[2]`` (this process plus two worker threads: the machines here have two cores).
- Small shuffles (the report's partitions are per client; a handful of partitions per core
  is plenty for one machine), no UI, UTC session time zone (every stored time is UTC), logs
  at ERROR, and a temporary warehouse/derby directory that is removed afterwards.
- A session logcorr started is stopped at the end; one handed in, or already running in this
  process (a notebook's, a test's), is used as it is and left running.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logcorr.errors import LogcorrError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LOCAL_MASTER = "local[2]"
SHUFFLE_PARTITIONS = 4

_QUIET_LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""


@contextlib.contextmanager
def pandas_version_warning_ignored() -> Iterator[None]:
    """pyspark 4.x warns, at import and at every Arrow UDF, that it "does not yet fully
    support pandas >= 3.0"; the engine only moves Arrow tables (``applyInArrow``) and
    converts them itself, which the tests cover."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*PySpark does not yet fully support pandas.*",
                                category=FutureWarning)
        yield


def import_pyspark() -> Any:
    """``pyspark.sql``, or a one-line error saying how to get it (and Java)."""
    with pandas_version_warning_ignored():
        try:
            import pyspark.sql as sql
            import pyspark.sql.functions
            import pyspark.sql.pandas.utils  # noqa: F401
        except ImportError as exc:
            raise LogcorrError(
                "--engine spark needs pyspark: pip install 'logcorr[spark]' (and Java 17: "
                "apt-get install openjdk-17-jre-headless)") from exc
    return sql


def java_available() -> bool:
    """Whether a ``java`` that pyspark can start is there (``JAVA_HOME`` or ``PATH``)."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return True
    return shutil.which("java") is not None


@contextlib.contextmanager
def spark_session(master: str | None = None, spark: SparkSession | None = None) -> Iterator[SparkSession]:
    """Yield a session: ``spark`` itself when given, else one started here and stopped after."""
    if spark is not None:
        yield spark
        return
    sql = import_pyspark()
    running = sql.SparkSession.getActiveSession()
    if running is not None:  # a notebook's (or a test's) session: use it, leave it running
        yield running
        return
    remote = os.environ.get("SPARK_REMOTE") if master is None else None
    if remote is None and not java_available():
        raise LogcorrError("--engine spark needs Java 17 in local mode: apt-get install openjdk-17-jre-headless "
                           "(or set --spark-master / SPARK_REMOTE to use a cluster)")
    tmp = Path(tempfile.mkdtemp(prefix="logcorr-spark-"))
    try:
        with pandas_version_warning_ignored():
            session = _build(sql, master, remote, tmp).getOrCreate()
        if remote is None:
            session.sparkContext.setLogLevel("ERROR")
        try:
            yield session
        finally:
            session.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _build(sql: Any, master: str | None, remote: str | None, tmp: Path) -> Any:
    builder = sql.SparkSession.builder.appName("logcorr report")
    if remote is not None:
        return builder.remote(remote).config("spark.sql.session.timeZone", "UTC")
    log4j = tmp / "log4j2.properties"
    log4j.write_text(_QUIET_LOG4J2)
    java_opts = f"-Dlog4j2.configurationFile=file:{log4j} -Dderby.system.home={tmp}"
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    conf = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(SHUFFLE_PARTITIONS),
        "spark.default.parallelism": str(SHUFFLE_PARTITIONS),
        "spark.sql.warehouse.dir": str(tmp / "warehouse"),
        "spark.local.dir": str(tmp / "local"),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions": java_opts,
        "spark.executor.extraJavaOptions": java_opts,
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.adaptive.enabled": "true",
        # Parquet timestamps as the store writes them (int64 µs, UTC), not legacy INT96.
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    }
    builder = builder.master(master or LOCAL_MASTER)
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder
