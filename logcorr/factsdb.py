"""The session facts computed by DuckDB over the store's Parquet files (:data:`logcorr.facts.SQL`).

DuckDB runs in this process, reads only the columns each fact needs straight from the
committed files (``Store.files``), aggregates out of core on every core, and hands back
the small frames; the session rows never become Python objects.  A
:class:`logcorr.period.WindowStore`'s floor (``logcorr watch``'s ``--last``) is applied as
its ``read`` applies it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from logcorr import schema
from logcorr.facts import (
    DIALECTS,
    DISTINCT,
    KEYS,
    LOG_ROWS_OF_SESSIONS,
    PLAIN_COLUMNS,
    SESSION_COLUMNS,
    SQL,
    STAGES,
    TOTALS,
    Scope,
    SessionFacts,
    canonical,
    protocol_names,
    sql_time,
    ua_families,
)

if TYPE_CHECKING:
    from pathlib import Path

    import duckdb
    import pandas as pd

    from logcorr.store import Store

POLICY_FACTS = ("protocols", "ciphers", "protocol_ciphers", "sni", "agents", "best", "legacy",
                "legacy_agents", "combos")


MEMORY_LIMIT = "1GB"
"""DuckDB's own budget: larger aggregates spill to a private temporary directory, so the
report stays within issue 11's 2 GiB at 10M sessions whatever the machine's RAM."""


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that reads times in UTC (the facts' hours are UTC hours)."""
    import contextlib
    import shutil
    import tempfile
    import weakref

    import duckdb

    spill = tempfile.mkdtemp(prefix="logcorr-duckdb-")
    con = duckdb.connect(":memory:", config={"memory_limit": MEMORY_LIMIT, "temp_directory": spill,
                                             "preserve_insertion_order": False})
    weakref.finalize(con, shutil.rmtree, spill, ignore_errors=True)
    con.execute("SET TimeZone = 'UTC'")
    # No progress bar: the report prints its own output.  Jupyter without ipywidgets
    # refuses the setting, and draws no bar either.
    with contextlib.suppress(duckdb.InvalidInputException):
        con.execute("SET enable_progress_bar = false")
    return con


def table_view(con: duckdb.DuckDBPyConnection, store: Store, table: str, columns: list[str],
               name: str, *, row_order: bool = False) -> None:
    """View ``name``: ``columns`` of ``table``'s committed rows (a column no file has is null).

    ``row_order``: with the columns ``_path`` (the file's path, as ``Store.files`` gives it)
    and ``_file_row`` (the row's number in its file): what orders the rows as ``Store.read``
    returns them.
    """
    files = store.files(table)
    tschema = schema.TABLES[table]
    wanted = [c for c in columns if c in tschema.names]
    if not files:
        empty = tschema.empty_table().select(wanted)
        if row_order:
            empty = (empty.append_column("_path", pa.array([], pa.string()))
                     .append_column("_file_row", pa.array([], pa.int64())))
        con.register(f"_{name}_empty", empty)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM _{name}_empty")
        return
    have = _set_columns(files)
    select = ", ".join(c if c in have else f"CAST(NULL AS {_sql_type(tschema.field(c).type)}) AS {c}"
                       for c in wanted)
    paths = ", ".join(_quoted(f) for f in files)
    options = "union_by_name = true, hive_partitioning = false"
    if row_order:
        select += ", filename AS _path, file_row_number AS _file_row"
        options += ", filename = true, file_row_number = true"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {select} FROM read_parquet([{paths}], "
                f"{options}){_floor(store, tschema)}")


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _set_columns(files: list[Path]) -> set[str]:
    """Columns with a value in some file (from the Parquet footers: a column null in every
    row group, such as ``user_agent`` of a format that does not log it, is read as a constant)."""
    out: set[str] = set()
    for f in files:
        md = pq.ParquetFile(f).metadata
        for i in range(md.num_columns):
            name = md.schema.column(i).path
            if name in out:
                continue
            for g in range(md.num_row_groups):
                col = md.row_group(g).column(i)
                st = col.statistics
                if st is None or not st.has_null_count or st.null_count < md.row_group(g).num_rows:
                    out.add(name)
                    break
    return out


def _sql_type(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_integer(t):
        return "BIGINT"
    return "VARCHAR"


def _floor(store: Store, tschema: pa.Schema) -> str:
    from logcorr.period import WindowStore

    if not isinstance(store, WindowStore) or "ts" not in tschema.names:
        return ""
    return f" WHERE ts >= {sql_time(store.floor)}"  # the session tables have no re-placed times


def _addresses(con: duckdb.DuckDBPyConnection, name: str, values: frozenset[str]) -> None:
    con.register(name, pa.table({"client_addr": pa.array(sorted(values), pa.string())}))


def facts_from_store(store: Store, scope: Scope | None = None, con: duckdb.DuckDBPyConnection | None = None,
                     ahead: Ahead | None = None) -> SessionFacts:
    """The facts of ``scope`` (default: every row) over ``store``'s ``tls_sessions`` and ``plain_requests``.

    ``ahead``: what :class:`Ahead` computed on ``con`` before ``scope`` was known; kept
    where ``scope`` gives the same rows, computed again where not.
    """
    scope = scope or Scope()
    con = con or connect()
    reuse = ahead is not None and ahead.same_sessions(scope)
    if not reuse:
        _client_stage(con, store, scope)
    _addresses(con, "scanners", scope.scanners)
    _addresses(con, "wanted", scope.wanted)
    fill = {**DIALECTS["duckdb"], "period": scope.sql()}
    for name in ("session_counts", "plain_counts"):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS " + STAGES[name].format(**fill))
    log_rows = int(_scalar(con, SQL["log_rows"]))
    kept = ahead.usable_facts(con, scope) if ahead is not None and reuse else None
    frames, totals = kept or _usable_facts(con, scope, log_rows)
    frames = {**frames, **{name: canonical(name, _frame(con, SQL[name]))
                           for name in KEYS if name not in POLICY_FACTS and name != "candidates"}}
    totals = {**totals, **{name: int(_scalar(con, SQL[name])) for name in TOTALS if name not in USABLE_TOTALS}}

    # only ``usable`` is read again (candidates): the stages' memory goes back now
    con.execute("DROP TABLE IF EXISTS client_sessions; DROP TABLE IF EXISTS session_counts; "
                "DROP TABLE IF EXISTS plain_counts")

    def candidates(inside: pd.DataFrame) -> pd.DataFrame:
        con.register("inside", inside[["protocol", "ssl_cipher"]])
        return canonical("candidates", _frame(con, SQL["candidates"]))

    return SessionFacts(frames, totals, candidates)


USABLE_TOTALS = ("usable_sessions", "usable_clients")
"""The totals read from ``usable`` (with :data:`POLICY_FACTS`, what ``excluded`` changes)."""


def _client_stage(con: duckdb.DuckDBPyConnection, store: Store, scope: Scope) -> None:
    """The views, ``ignored``, and the ``client_sessions`` stage with its name tables
    (what depends on the period and the ignored addresses only)."""
    table_view(con, store, "tls_sessions", SESSION_COLUMNS, "sessions")
    table_view(con, store, "plain_requests", PLAIN_COLUMNS, "plain")
    _addresses(con, "ignored", scope.ignored)
    fill = {**DIALECTS["duckdb"], "period": scope.sql()}
    con.execute("CREATE OR REPLACE TEMP TABLE client_sessions AS " + STAGES["client_sessions"].format(**fill))
    con.register("protocol_names", protocol_names([r[0] for r in con.sql(DISTINCT["protocol_names"]).fetchall()]))
    con.register("ua_families", ua_families([r[0] for r in con.sql(DISTINCT["ua_families"]).fetchall()]))


def _usable_facts(con: duckdb.DuckDBPyConnection, scope: Scope, log_rows: int
                  ) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    """``usable`` of ``scope.excluded``, and the facts read from it."""
    _addresses(con, "excluded", scope.excluded)
    con.execute("CREATE OR REPLACE TEMP TABLE usable AS " + STAGES["usable"].format(pcap_rule=Scope.pcap_rule(log_rows)))
    return ({name: canonical(name, _frame(con, SQL[name])) for name in POLICY_FACTS},
            {name: int(_scalar(con, SQL[name])) for name in USABLE_TOTALS})


class Ahead:
    """The facts that do not depend on the matches, computed on ``con`` while the report
    correlates (DuckDB leaves Python's lock while it runs: the two use both cores).

    ``scope`` holds the period, the ignored addresses and the addresses known not to be
    clients before correlation (load balancers); :func:`facts_from_store` keeps the
    ``client_sessions`` stage when its scope has the same period and ignored addresses,
    and the ``usable`` facts when the addresses it adds (correlation's scanners, load
    balancers) have no usable session, which is what makes them the same numbers.
    """

    def __init__(self, store: Store, scope: Scope, con: duckdb.DuckDBPyConnection) -> None:
        self.scope = scope
        _client_stage(con, store, scope)
        log_rows = int(_scalar(con, LOG_ROWS_OF_SESSIONS.format(period=scope.sql())))
        self.frames, self.totals = _usable_facts(con, scope, log_rows)

    def same_sessions(self, scope: Scope) -> bool:
        return (scope.since, scope.until, scope.ignored) == (self.scope.since, self.scope.until, self.scope.ignored)

    def usable_facts(self, con: duckdb.DuckDBPyConnection, scope: Scope
                     ) -> tuple[dict[str, pd.DataFrame], dict[str, int]] | None:
        """The ``usable`` facts for ``scope``, or None when its ``excluded`` changes them."""
        if not self.scope.excluded <= scope.excluded:
            return None
        added = scope.excluded - self.scope.excluded
        if added:
            _addresses(con, "_added", frozenset(added))
            if int(_scalar(con, "SELECT count(*) FROM usable WHERE client_addr IN (SELECT client_addr FROM _added)")):
                return None
        return self.frames, self.totals


def addresses(store: Store, tables: tuple[str, ...] = ("tls_sessions", "plain_requests"),
              con: duckdb.DuckDBPyConnection | None = None) -> list[str]:
    """Distinct ``client_addr`` of ``tables`` (all rows): what CIDR rules are tested against."""
    con = con or connect()
    parts = []
    for i, table in enumerate(tables):
        table_view(con, store, table, ["client_addr"], f"_addr{i}")
        parts.append(f"SELECT client_addr FROM _addr{i}")
    rows = con.sql("SELECT DISTINCT client_addr FROM (" + " UNION ALL ".join(parts)
                   + ") AS a WHERE client_addr IS NOT NULL ORDER BY 1").fetchall()
    return [str(r[0]) for r in rows]


def _frame(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    from logcorr.api import to_pandas

    return to_pandas(con.sql(sql).to_arrow_table())


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    rows = con.sql(sql).fetchall()
    return rows[0][0] if rows and rows[0][0] is not None else 0
