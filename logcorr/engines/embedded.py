"""The embedded engine at scale: DuckDB reads the sessions Parquet where pandas would load it.

Sessions are the big table; the report needs two things from them, and neither needs every
row in pandas:

- the first good session after each failure.  DuckDB finds, with one ``ASOF JOIN`` over the
  Parquet files, the first session at ``min_protocol`` or above at or after each failure's
  lower bound (:func:`logcorr.correlate._lower_bounds`, the same function); those sessions
  (and any other row at the same client and time, for the tie-break) are the only ones handed
  to :func:`logcorr.correlate.correlate`.  Any subset of the sessions that holds each
  failure's first good session gives correlate the same matches, so the rule itself stays
  the pure pandas function (tests compare both on generated data);
- the :class:`SessionSummary` (counts, first/last, who ever succeeded), as one aggregate
  query; :func:`logcorr.report.sessionsummary.summarise_sessions` is its reference.

DuckDB runs in this process (no server) and spills to disk past its memory limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from logcorr.report.pipeline import Work, judge_evidence, save_matches
from logcorr.report.sessionsummary import SessionSummary

if TYPE_CHECKING:
    import duckdb

    from logcorr.api import Dataset

MEMORY_LIMIT = "1GB"


def _connect(dataset: Dataset) -> duckdb.DuckDBPyConnection | None:
    """A connection with a ``sessions`` view over the committed session files (None: none)."""
    import duckdb

    files = [str(f) for f in dataset.store.files("tls_sessions")]
    if not files:
        return None
    con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "threads": 2})
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE VIEW sessions AS SELECT * FROM read_parquet({files!r}, union_by_name = true)")
    return con


def candidate_sessions(con: duckdb.DuckDBPyConnection | None, failures: pd.DataFrame,
                       min_protocol: str) -> pd.DataFrame:
    """The sessions that can be some failure's first good session (``SESSION_COLUMNS``)."""
    from logcorr.api import SESSION_COLUMNS, to_pandas
    from logcorr.correlate import PROTOCOL_ORDER, _lower_bounds

    if con is None or failures.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in SESSION_COLUMNS})
    f = failures[failures["client_addr"].notna().to_numpy(dtype=bool) & failures["ts"].notna().to_numpy(dtype=bool)]
    lo = pd.to_datetime(_lower_bounds(f), utc=True).astype("datetime64[us, UTC]")
    left = pa.table({"client_addr": pa.array(f["client_addr"].astype(str).to_numpy(), pa.string()),
                     "lo": pa.array(lo.to_numpy(), pa.timestamp("us", tz="UTC"))})
    good = [p for p, rank in PROTOCOL_ORDER.items() if rank >= PROTOCOL_ORDER[min_protocol]]
    con.register("lows", left)
    try:
        cols = ", ".join(f"s.{c}" for c in SESSION_COLUMNS)
        table = con.sql(f"""
            WITH good AS (
                SELECT client_addr, ts FROM sessions
                WHERE ssl_protocol IN ({', '.join(repr(p) for p in good)})
                  AND client_addr IS NOT NULL AND ts IS NOT NULL),
            firsts AS (
                SELECT DISTINCT g.client_addr, g.ts
                FROM (SELECT DISTINCT client_addr, lo FROM lows) l
                ASOF JOIN good g ON l.client_addr = g.client_addr AND l.lo <= g.ts)
            SELECT {cols} FROM sessions s
            SEMI JOIN firsts f ON s.client_addr = f.client_addr AND s.ts = f.ts
        """).to_arrow_table()
    finally:
        con.unregister("lows")
    return to_pandas(table)


def session_summary(con: duckdb.DuckDBPyConnection | None, since: Any, until: Any,
                    clients: list[str]) -> SessionSummary:
    """:class:`SessionSummary` as one query (reference: ``summarise_sessions``)."""
    if con is None:
        return SessionSummary()
    cond, args = ["true"], []
    if since is not None:
        cond.append("ts >= ?")
        args.append(pd.Timestamp(since).to_pydatetime())
    if until is not None:
        cond.append("ts < ?")
        args.append(pd.Timestamp(until).to_pydatetime())
    inside = " AND ".join(cond)
    row = con.execute(f"""
        SELECT count(*) FILTER (WHERE {inside}),
               count(*) FILTER (WHERE {inside} AND is_connection IS DISTINCT FROM false),
               epoch_us(min(ts) FILTER (WHERE {inside})), epoch_us(max(ts) FILTER (WHERE {inside})),
               count(*) > 0
        FROM sessions""", args * 4).fetchall()[0]
    succeeded: frozenset[str] = frozenset()
    if clients:
        con.register("asked", pa.table({"client_addr": pa.array(clients, pa.string())}))
        try:
            got = con.execute("SELECT DISTINCT client_addr FROM sessions SEMI JOIN asked USING (client_addr)")
            succeeded = frozenset(r[0] for r in got.fetchall())
        finally:
            con.unregister("asked")

    def ts(us: int | None) -> pd.Timestamp | None:
        return None if us is None else pd.Timestamp(us, unit="us", tz="UTC")

    return SessionSummary(requests=int(row[0]), connections=int(row[1]), first=ts(row[2]), last=ts(row[3]),
                          any_sessions=bool(row[4]), succeeded=succeeded)


def duckdb_work(dataset: Dataset) -> Work:
    """The embedded engine's work with DuckDB on the sessions side."""
    con = _connect(dataset)

    def matches(window_s: int, min_protocol: str) -> pd.DataFrame:
        from logcorr.correlate import correlate
        from logcorr.evidence import load_evidence

        evidence = load_evidence(dataset)
        failures = judge_evidence(evidence.failures, evidence.headers, evidence)
        sessions = candidate_sessions(con, failures, min_protocol)
        return correlate(failures, sessions, window_s, min_protocol,
                         lb_networks=evidence.lb_networks, lb_addrs=evidence.lb_addrs)

    def sessions(since: Any, until: Any, clients: list[str]) -> SessionSummary:
        return session_summary(con, since, until, clients)

    return Work(matches=matches, sessions=sessions, save=lambda m: save_matches(dataset.store, m))
