"""The Spark engine: the report's judgements on Apache Spark, with the embedded engine's functions.

The work is the embedded engine's, partitioned the way its rules are scoped (SPEC §6):

1. **per host** — :func:`logcorr.attribution.attribute_failures` (``*N`` connection ids, the
   capture join and the stream/error-log merge are per nginx instance): failures and
   ``proxy_headers`` cogrouped by ``host`` (one group when the data has no ``host`` yet);
2. **per client** — :func:`logcorr.correlate.correlate` (attribution against the load
   balancers, copies merged, each failure against the same client's later sessions): the
   attributed failures and the sessions of the clients that failed, cogrouped by
   ``client_addr``.  Recovery is per real client across hosts, so the client partition holds
   every host's sessions of that client.

Each group is handed to the pure functions through ``applyInArrow``: the function gets the
group as an Arrow table, cast to the stored schema and converted with
:func:`logcorr.api.to_pandas` — exactly the frames (nullable dtypes, ``datetime64[us, UTC]``)
the embedded engine passes.  ``applyInPandas`` would hand them Spark's own conversion
(nullable ints as float64, naive nanosecond times), and the functions would not see the same
values.  No rule is re-implemented in Spark SQL.  ``matches`` is written back as Parquet by
Spark itself.  The report builder (schema 2) then runs on the driver as for the embedded
engine: it reads the sessions there too.  Splitting its aggregates so that the sessions
side runs on Spark is not done yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from logcorr import schema
from logcorr.engines.sparksession import pandas_version_warning_ignored

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from logcorr.api import Dataset

NO_HOST = ""
"""The partition of rows without a ``host``."""

DATA_URL_CONF = "spark.logcorr.data.url"
"""Spark setting: where the executors find the data directory (``s3://bucket/logcorr-data``).

Unset, they read the local paths of the manifest (local mode, or a directory mounted at the
same path on every node).  Set (``spark-defaults.conf``, ``--conf``, a notebook's
``spark.conf.set``), each committed file is read at the same relative path under it, and
``matches`` comes back to the driver through Spark (one row per failure) to be saved in
the local data directory as the embedded engine saves it."""


def _fields(table: str, names: Sequence[str]) -> list[pa.Field]:
    tschema = schema.TABLES[table]
    return [tschema.field(n).remove_metadata() for n in names]


def _arrow_schema(fields: Sequence[pa.Field]) -> pa.Schema:
    return pa.schema(list(fields))


def _to_pandas(table: pa.Table, target: pa.Schema) -> Any:
    """The group as the embedded engine sees it: stored Arrow types, nullable pandas dtypes."""
    from logcorr.api import to_pandas

    return to_pandas(table.select(target.names).cast(target))


def _from_pandas(frame: Any, target: pa.Schema) -> pa.Table:
    return pa.Table.from_pandas(frame[target.names], schema=target, preserve_index=False)


def _failure_id_of(frame: Any) -> Any:
    """``failure_id`` as :func:`logcorr.correlate.correlate` names rows (its own function)."""
    from logcorr.correlate import _failure_ids, _utc

    return _failure_ids(frame.assign(ts=_utc(frame["ts"])))


def _spark_type(fields: Sequence[pa.Field]) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(pa.schema(list(fields)))


class SparkPlan:
    """The report's distributed steps over one data directory (a :class:`Dataset`)."""

    def __init__(self, spark: SparkSession, dataset: Dataset) -> None:
        self.spark = spark
        self.dataset = dataset
        self.store = dataset.store
        self.notes: list[str | None] = []  # why matches were not saved, for the report

    @property
    def data_url(self) -> str | None:
        """:data:`DATA_URL_CONF` of this session, without a trailing ``/`` (None: unset)."""
        url = self.spark.conf.get(DATA_URL_CONF, None)
        return url.rstrip("/") if url else None

    def locations(self, table: str) -> list[str]:
        """Where the executors read the committed files of ``table`` (local paths, or under the URL)."""
        files = self.store.files(table)
        url = self.data_url
        if url is None:
            return [str(f) for f in files]
        return [f"{url}/{f.relative_to(self.store.path).as_posix()}" for f in files]

    def read(self, table: str, columns: Sequence[str]) -> DataFrame:
        """The committed files of ``table`` (the manifest's list), only ``columns``."""
        from pyspark.sql import functions as F

        files = self.locations(table)
        stored = schema.TABLES[table]
        if not files:
            return self.spark.createDataFrame([], _spark_type(_fields(table, columns)))
        frame = self.spark.read.schema(_spark_type([f.remove_metadata() for f in stored])).parquet(*files)
        return frame.select(*[F.col(c) for c in columns])

    def attributed_failures(self) -> tuple[DataFrame, list[pa.Field]]:
        """Failures with times placed and evidence applied, host by host; their Arrow fields.

        The same steps as the embedded engine (:func:`logcorr.evidence.load_evidence`, then
        :func:`logcorr.report.pipeline.judge_evidence`), on each host's rows.
        """
        from pyspark.sql import functions as F

        from logcorr.api import FAILURE_COLUMNS
        from logcorr.evidence import HEADER_COLUMNS, evidence_settings

        evidence = evidence_settings(self.store.manifest)  # small: settings, no rows
        in_fields = _fields("handshake_failures", FAILURE_COLUMNS)
        # merged_into: attribution's links (one failure seen by several sources); _part: the
        # client partition, the client of the failure's representative, so that linked rows
        # (an nginx row showing the load balancer, the capture's row naming the client) are
        # judged together.
        out_fields = [*in_fields, pa.field("seen_by", pa.string()), pa.field("merged_into", pa.string()),
                      pa.field("_part", pa.string())]
        h_fields = _fields("proxy_headers", HEADER_COLUMNS)
        # The partition key only: the functions see ``host`` as stored (null stays null).
        key = F.coalesce(F.col("host"), F.lit(NO_HOST))
        failures = self.read("handshake_failures", FAILURE_COLUMNS).withColumn("_host", key)
        headers = self.read("proxy_headers", HEADER_COLUMNS).withColumn("_host", key)
        in_schema, h_schema, out_schema = (_arrow_schema(x) for x in (in_fields, h_fields, out_fields))

        def per_host(f: pa.Table, h: pa.Table) -> pa.Table:
            import pandas as pd

            from logcorr.correlate import attribute, client_side_only, link_failures
            from logcorr.evidence import place_times
            from logcorr.report.pipeline import judge_evidence

            if f.num_rows == 0:
                return out_schema.empty_table()
            placed, _ = place_times(_to_pandas(f, in_schema), evidence.offsets)
            placed_headers, _ = place_times(_to_pandas(h, h_schema), evidence.offsets)
            judged = judge_evidence(placed, placed_headers, evidence)
            for name in ("seen_by", "merged_into"):
                if name not in judged:
                    judged[name] = pd.Series(pd.NA, index=judged.index, dtype=pd.StringDtype())
            linked = link_failures(attribute(client_side_only(judged), evidence.lb_networks, evidence.lb_addrs))
            client_of = dict(zip(linked["failure_id"], linked["client_addr"].astype(object), strict=True))
            part = linked["failure_key"].map(client_of).astype(object)
            part = part.where(part.notna(), linked["client_addr"].astype(object))
            # rows client_side_only dropped keep their own client
            judged = judged.assign(_fid=_failure_id_of(judged))
            # merged_into holds an index label: across partitions it travels as a failure_id
            label_to_id = dict(zip(judged.index, judged["_fid"], strict=True))
            judged["merged_into"] = judged["merged_into"].map(
                lambda x: None if x is None or pd.isna(x) else label_to_id.get(x)).astype(object)
            by_id = dict(zip(linked["failure_id"], part, strict=True))
            judged["_part"] = judged["_fid"].map(by_id).where(judged["_fid"].isin(list(by_id)), judged["client_addr"].astype(object))
            return _from_pandas(judged, out_schema)

        with pandas_version_warning_ignored():
            done = (failures.groupBy("_host").cogroup(headers.groupBy("_host"))
                    .applyInArrow(per_host, schema=_spark_type(out_fields)))
        # Used twice (the clients that failed, then the cogroup): computed once.
        return done.localCheckpoint(eager=True), out_fields

    def matches(self, window_s: int, min_protocol: str) -> DataFrame:
        """The ``matches`` rows (``schema.MATCHES``), computed client by client."""
        from logcorr.api import SESSION_COLUMNS, to_pandas
        from logcorr.evidence import evidence_settings

        failures, f_fields = self.attributed_failures()
        s_fields = _fields("tls_sessions", SESSION_COLUMNS)
        f_schema, s_schema = _arrow_schema(f_fields), _arrow_schema(s_fields)
        m_fields = [f.remove_metadata() for f in schema.MATCHES]
        m_schema = _arrow_schema(m_fields)
        evidence = evidence_settings(self.store.manifest)
        sessions = self.read("tls_sessions", SESSION_COLUMNS)
        # Captured hellos (capture-sized, small) go to every client partition, as they are
        # to the embedded engine's correlate.
        hellos = (to_pandas(self.store.read("client_hellos")) if self.store.files("client_hellos") else None)
        # Only the sessions of clients that failed take part (the embedded engine's lean read).
        failing = (failures.select(failures["_part"].alias("client_addr"))
                   .where("client_addr IS NOT NULL").distinct())
        sessions = sessions.join(failing, on="client_addr", how="left_semi")

        def per_client(f: pa.Table, s: pa.Table) -> pa.Table:
            import pandas as pd

            from logcorr.correlate import correlate

            if f.num_rows == 0:
                return m_schema.empty_table()
            rows = _to_pandas(f, f_schema)
            # back from failure_ids to this frame's index labels (see per_host)
            id_to_label = dict(zip(_failure_id_of(rows), rows.index, strict=True))
            rows["merged_into"] = rows["merged_into"].astype(object).map(
                lambda x: None if x is None or pd.isna(x) else id_to_label.get(x)).astype(object)
            m = correlate(rows.drop(columns=["_part"]), _to_pandas(s, s_schema), window_s, min_protocol,
                          lb_networks=evidence.lb_networks, lb_addrs=evidence.lb_addrs, hellos=hellos,
                          scanner_cidrs=evidence.scanner_networks, ignore_cidrs=evidence.ignore_networks)
            return _from_pandas(m, m_schema)

        with pandas_version_warning_ignored():
            return (failures.groupBy("_part").cogroup(sessions.groupBy("client_addr"))
                    .applyInArrow(per_client, schema=_spark_type(m_fields)))

    def computed_matches(self, window_s: int, min_protocol: str, *, save: bool) -> Any:
        """Spark computes and writes ``matches`` (the store's table when ``save``); the rows
        come back from those files, as the builder's input (one row per failure)."""
        import shutil
        import uuid

        import pyarrow.dataset as ds
        from pyspark.sql import functions as F

        from logcorr.api import to_pandas

        if self.data_url is not None:  # the executors cannot write the local directory
            table = self.matches(window_s, min_protocol).toArrow()
            frame = to_pandas(schema.conform("matches", table))
            if save:
                self.notes.append(self.store.replace_table("matches", schema.conform("matches", table)))
            return _sorted(frame)
        staging = self.store.path / f".matches-{uuid.uuid4().hex[:8]}"
        try:
            (self.matches(window_s, min_protocol)
             .withColumn(schema.PARTITION_COLUMN, F.date_format("ts", "yyyy-MM-dd"))
             .write.partitionBy(schema.PARTITION_COLUMN).parquet(str(staging)))
            files = sorted(str(f) for f in staging.rglob("*.parquet"))
            table = (ds.dataset(files, schema=schema.MATCHES, format="parquet").to_table()
                     if files else schema.empty("matches"))
            if save:
                self.notes.append(self.store.adopt("matches", staging))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return _sorted(to_pandas(table))


def _sorted(frame: Any) -> Any:
    """``matches`` in the embedded engine's order (Spark's files come in any order)."""
    return frame.sort_values(["ts", "client_addr", "file", "line", "failure_id"], kind="stable",
                             na_position="last").reset_index(drop=True)


PRECEDED_INPUT = ["failure_id", "failure_key", "ts", "client_addr", "reason", "attributable", "file", "line"]
"""The ``matches`` columns :func:`logcorr.sequence.preceded_by` reads."""


def spark_preceded(plan: SparkPlan) -> Any:
    """``run_report``'s ``preceded_with``: :func:`logcorr.sequence.preceded_by` client by client on Spark.

    The real clients' failures (one row per failure, from the driver) are cogrouped by client
    with those clients' sessions in the period (read by the executors); each group goes
    through the embedded engine's function, with the captured hellos (capture-sized) as the
    embedded engine passes them.  The rows come back in its order: by client, time, file and
    line.
    """

    def run(real: Any, hellos: Any, since: Any, until: Any) -> Any:
        import pandas as pd
        from pyspark.sql import functions as F

        from logcorr.api import to_pandas
        from logcorr.sequence import COLUMNS, preceded_by

        m_fields = [f.remove_metadata() for f in schema.MATCHES if f.name in PRECEDED_INPUT]
        m_schema = _arrow_schema(m_fields)
        s_fields = _fields("tls_sessions", ["ts", "client_addr"])
        s_schema = _arrow_schema(s_fields)
        keys = [pa.field("_client", pa.string()), pa.field("_ts", pa.timestamp("us", tz="UTC")),
                pa.field("_file", pa.string()), pa.field("_line", pa.int64())]
        out_fields = [pa.field("failure_id", pa.string()), pa.field("reason", pa.string()),
                      pa.field("preceded_by", pa.string()), pa.field("previous_gap_s", pa.float64()),
                      pa.field("first_attempt_version", pa.string()), pa.field("first_attempt_end", pa.string()),
                      pa.field("first_attempt_gap_s", pa.float64()), *keys]
        out_schema = _arrow_schema(out_fields)
        rows = pa.Table.from_pandas(real.reindex(columns=m_schema.names), schema=m_schema, preserve_index=False)
        failures = plan.spark.createDataFrame(rows)
        sessions = plan.read("tls_sessions", ["ts", "client_addr"])
        if since is not None:
            sessions = sessions.where(F.col("ts") >= F.lit(pd.Timestamp(since).to_pydatetime()))
        if until is not None:
            sessions = sessions.where(F.col("ts") < F.lit(pd.Timestamp(until).to_pydatetime()))
        sessions = sessions.join(failures.select("client_addr").distinct(), on="client_addr", how="left_semi")

        def per_client(f: pa.Table, s: pa.Table) -> pa.Table:
            if f.num_rows == 0:
                return out_schema.empty_table()
            mine = _to_pandas(f, m_schema)
            seq = preceded_by(mine, _to_pandas(s, s_schema), hellos)
            at = mine.drop_duplicates("failure_id")
            at.index = at["failure_id"].astype(str)
            ids = seq["failure_id"].astype(str)
            seq = seq.assign(_client=at.loc[ids, "client_addr"].astype(object).to_numpy(),
                             _ts=at.loc[ids, "ts"].to_numpy(), _file=at.loc[ids, "file"].astype(object).to_numpy(),
                             _line=at.loc[ids, "line"].to_numpy())
            return pa.Table.from_pandas(seq[out_schema.names], schema=out_schema, preserve_index=False)

        with pandas_version_warning_ignored():
            done = (failures.groupBy("client_addr").cogroup(sessions.groupBy("client_addr"))
                    .applyInArrow(per_client, schema=_spark_type(out_fields)))
            got = to_pandas(done.toArrow().cast(out_schema))
        if got.empty:
            return preceded_by(real.iloc[:0], pd.DataFrame({"ts": [], "client_addr": []}), None)
        got = got.assign(_file=got["_file"].astype(object).fillna(""), _line=got["_line"].fillna(-1))
        got = got.sort_values(["_client", "_ts", "_file", "_line"], kind="stable").reset_index(drop=True)
        # the function's dtypes: its own columns as str, the capture's as object, gaps NaN
        kinds = {f.name: "float64" if pa.types.is_floating(f.type) else "str" for f in out_fields}
        out = got[COLUMNS].astype({c: kinds[c] for c in COLUMNS})
        for c in ("first_attempt_version", "first_attempt_end"):
            out[c] = got[c].astype(object).where(got[c].notna(), None)
        return out

    return run


def spark_correlate(plan: SparkPlan) -> Any:
    """``run_report``'s ``correlate_with``: matches computed (and saved) by Spark."""

    def run(window_s: int, min_protocol: str, *, save: bool) -> tuple[Any, str | None]:
        frame = plan.computed_matches(window_s, min_protocol, save=save)
        return frame, next((n for n in plan.notes if n), None)

    return run
