"""The session facts on Spark: :data:`logcorr.facts.SQL` run by Spark SQL where the rows are.

The same SQL text DuckDB runs for the embedded engine (:mod:`logcorr.factsdb`), over the
same views, registered here as Spark temporary views: ``sessions`` and ``plain`` (the
committed files, read by the executors), the stages computed from them, the small address
tables of the :class:`logcorr.facts.Scope`, and the two name tables.  Only the aggregates come back to the driver; the session rows never do.

What differs between the two engines' SQL is filled in from
:data:`logcorr.facts.DIALECTS` (the hour of a time, a UTC timestamp literal).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from logcorr.facts import (
    DIALECTS,
    DISTINCT,
    KEYS,
    PLAIN_COLUMNS,
    SESSION_COLUMNS,
    SQL,
    STAGES,
    TOTALS,
    Scope,
    SessionFacts,
    canonical,
    protocol_names,
    ua_families,
)

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame

    from logcorr.engines.spark import SparkPlan

ADDRESS_SCHEMA = "client_addr string"
NAME_SCHEMAS = {"protocol_names": "raw string, protocol string, rank int",
                "ua_families": "user_agent string, family string",
                "inside": "protocol string, ssl_cipher string"}


class SparkFacts:
    """The facts engine of one :class:`SparkPlan` (what :func:`logcorr.report.pipeline.session_facts` asks)."""

    def __init__(self, plan: SparkPlan) -> None:
        self.plan = plan
        self.spark = plan.spark

    def _view(self, name: str, frame: DataFrame) -> None:
        frame.createOrReplaceTempView(name)

    def _small(self, name: str, frame: pd.DataFrame, ddl: str) -> None:
        """A driver-side frame (a few rows) as view ``name``."""
        rows = [tuple(None if _missing(v) else v for v in row) for row in frame.itertuples(index=False)]
        self._view(name, self.spark.createDataFrame(rows, ddl))

    def _addresses(self, name: str, values: Collection[str]) -> None:
        self._view(name, self.spark.createDataFrame([(v,) for v in sorted(values)], ADDRESS_SCHEMA))

    def _sql(self, text: str) -> DataFrame:
        return self.spark.sql(text)

    def _frame(self, text: str) -> pd.DataFrame:
        from logcorr.api import to_pandas

        return to_pandas(self._sql(text).toArrow())

    def _scalar(self, text: str) -> int:
        rows = self._sql(text).collect()
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    def addresses(self, tables: tuple[str, ...] = ("tls_sessions", "plain_requests")) -> list[str]:
        """Distinct ``client_addr`` of ``tables``: what the CIDR rules are tested against."""
        parts = [self.plan.read(t, ["client_addr"]) for t in tables]
        union = parts[0]
        for p in parts[1:]:
            union = union.unionByName(p)
        rows = union.where("client_addr IS NOT NULL").distinct().collect()
        return sorted(str(r[0]) for r in rows)

    def facts(self, scope: Scope) -> SessionFacts:
        """The facts of ``scope``, computed by Spark (see the module docstring)."""
        self._view("sessions", self.plan.read("tls_sessions", SESSION_COLUMNS))
        self._view("plain", self.plan.read("plain_requests", PLAIN_COLUMNS))
        for name in ("ignored", "scanners", "excluded", "wanted"):
            self._addresses(name, getattr(scope, name))
        fill = {**DIALECTS["spark"], "period": scope.sql("spark")}
        # each stage is one scan of its table, kept on the executors for the facts that read it
        for name in ("session_counts", "plain_counts", "client_sessions"):
            self._view(name, self._sql(STAGES[name].format(**fill)).localCheckpoint(eager=True))
        log_rows = self._scalar(SQL["log_rows"])
        self._small("protocol_names", protocol_names([r[0] for r in self._sql(DISTINCT["protocol_names"]).collect()]),
                    NAME_SCHEMAS["protocol_names"])
        self._small("ua_families", ua_families([r[0] for r in self._sql(DISTINCT["ua_families"]).collect()]),
                    NAME_SCHEMAS["ua_families"])
        usable = self._sql(STAGES["usable"].format(pcap_rule=Scope.pcap_rule(log_rows)))
        self._view("usable", usable.localCheckpoint(eager=True))
        frames = {name: canonical(name, self._frame(SQL[name])) for name in KEYS if name != "candidates"}
        totals = {name: self._scalar(SQL[name]) for name in TOTALS}

        def candidates(inside: pd.DataFrame) -> pd.DataFrame:
            self._small("inside", inside[["protocol", "ssl_cipher"]], NAME_SCHEMAS["inside"])
            return canonical("candidates", self._frame(SQL["candidates"]))

        return SessionFacts(frames, totals, candidates)


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or (not isinstance(value, str | bytes) and bool(pd.isna(value)))
