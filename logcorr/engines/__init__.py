"""Engines: where the report's heavy work runs (SPEC §2 ``--engine``).

- ``embedded`` (default): in this process (:func:`logcorr.report.pipeline.run_report`):
  pandas for the failures and their clients' sessions, DuckDB over the stored Parquet for
  the session facts (:mod:`logcorr.facts`); the reference the others are tested against;
- ``spark``: Apache Spark (:mod:`logcorr.engines.spark`): local mode, ``--spark-master`` or
  Spark Connect's ``SPARK_REMOTE``.

Both feed the one report builder, so both give the same report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from logcorr.errors import LogcorrError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from logcorr.api import Dataset
    from logcorr.policies import Policy
    from logcorr.report.build import Report

ENGINES = ("embedded", "spark")


def report(dataset: Dataset, *, engine: str = "embedded", spark_master: str | None = None,
           spark: Any = None, window: str | int = "5m", min_protocol: str = "TLSv1.2",
           since: str | None = None, until: str | None = None, save_matches: bool = True,
           what_if: Sequence[Policy] = ()) -> Report:
    """The report of ``dataset`` computed by ``engine`` (``spark``: a session is started and
    stopped here unless ``spark``, a running SparkSession, is given)."""
    from logcorr.report.pipeline import run_report

    if engine not in ENGINES:
        raise LogcorrError(f"--engine {engine!r}: use {' or '.join(ENGINES)}")
    if engine == "embedded":
        if spark_master:
            raise LogcorrError("--spark-master needs --engine spark")
        return run_report(dataset, window=window, min_protocol=min_protocol, since=since,
                          until=until, save_matches=save_matches, what_if=what_if)
    from logcorr.engines.spark import SparkPlan, spark_correlate, spark_preceded
    from logcorr.engines.sparkfacts import SparkFacts
    from logcorr.engines.sparksession import spark_session

    dataset.store.require()
    with spark_session(spark_master, spark) as session:
        plan = SparkPlan(session, dataset)
        return run_report(dataset, window=window, min_protocol=min_protocol, since=since,
                          until=until, save_matches=save_matches, what_if=what_if,
                          correlate_with=spark_correlate(plan), facts_with=SparkFacts(plan),
                          preceded_with=spark_preceded(plan))
