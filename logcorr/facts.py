"""Session facts: the small aggregates of ``tls_sessions`` and ``plain_requests`` a report needs.

The report never needs the session rows themselves, only these aggregates (plus the rows
of the few clients that correlation, ``preceded_by`` and the drill-down look at).  Every
fact is a ``GROUP BY`` / ``DISTINCT`` / ``count`` / ``sum`` / ``min`` / ``max`` over the two
tables and a few small address or name tables, so any SQL engine computes it where the
rows are: :data:`SQL` is the one definition, run by DuckDB over the Parquet files
(:mod:`logcorr.factsdb`) and by Spark SQL (same text); :func:`facts_from_frames` is the
pandas reference the tests compare them against.

A :class:`Scope` says which rows count; its sets are known once ``matches`` is computed:

- ``since``/``until``: the period ``[since, until)`` (rows without ``ts`` count only
  without a period; ``ever`` and ``ever_rows`` look at all times);
- ``ignored``: addresses in the ``--ignore`` blocks, left out of every fact but ``log_rows``;
- ``scanners``: addresses classed scanner in the period (the headline leaves their
  sessions out; ``scanner_sessions`` counts them apart);
- ``excluded``: addresses that are not real clients (scanners, health checks, load
  balancers, ignored: :func:`logcorr.report.policy_sections.excluded_addresses`), left out
  of the ``usable`` facts;
- ``wanted``: the clients whose "ever succeeded" matters (those of ``matches``).

Small tables the engine is given (SQL views of the same names): ``scanners``, ``excluded``,
``wanted`` (one column ``client_addr``), ``protocol_names`` (``raw``, ``protocol``, ``rank``:
each distinct logged ``ssl_protocol`` normalised, :func:`logcorr.profile.normalize_protocol`)
and ``ua_families`` (``user_agent``, ``family``: each distinct logged agent's family,
:func:`logcorr.report.successes.ua_family`); both are computed in Python from the distinct
values (:data:`DISTINCT`), never per row.

Row predicates:

- *completed*: not (``source`` = ``nginx_stream`` and ``status`` in 400, 500) (SPEC §6);
- *connection*: ``is_connection`` true or null (a request is all such a log can count);
- *access line*: ``source`` is not ``pcap`` (null counts as a log line);
- *answer*: a ``plain_requests`` row whose ``status`` is not 400 or a redirect
  (:data:`logcorr.report.sections.UNLABELLED_NOT_ANSWERS`);
- *usable* (:func:`logcorr.whatif.usable_sessions`): in the period, completed, a
  connection, ``client_addr`` and ``ssl_protocol`` set, not ``excluded``, and not a capture
  row when the period has access lines (``log_rows`` > 0: the capture sees the same
  connections); ``protocol`` is its normalised name (``protocol_names``).

================  ===============================================  ==================================
fact              one row per                                      columns
================  ===============================================  ==================================
hosts             ``host`` of completed sessions in the period,    ``sessions``, ``connections``,
                  scanners left out                                ``first_ts``, ``last_ts``
scanner_sessions  scanner ``client_addr`` with session rows in     ``rows``, ``connections``
                  the period (completed or not)
hours             distinct (``host``, ``hour``: UTC hours since the    ``host``, ``hour``
                  epoch) of access lines of both tables in the
                  period
ever              ``client_addr`` among ``wanted`` with a          ``client_addr``
                  completed session or an answer, at any time
protocols         ``protocol`` of usable sessions                  ``sessions``, ``clients`` (distinct)
ciphers           ``ssl_cipher`` of usable sessions (set, not      ``sessions``, ``clients``
                  ``-``)
protocol_ciphers  (``protocol``, ``ssl_cipher``), as ``ciphers``   ``sessions``, ``clients``
sni               ``server_name`` of usable sessions (set, not     ``sessions``, ``clients``
                  ``-``)
agents            ``family`` of usable sessions' ``user_agent``    ``sessions``, ``clients``
best              ``protocol``: each usable client's highest       ``clients``
legacy            usable clients whose highest is TLS 1.1 or       ``protocol``, ``sessions``,
                  older: ``client_addr``                           ``last_ts``
legacy_agents     (``client_addr``, ``user_agent``) of those       ``sessions``
combos            distinct (``protocol``, ``ssl_cipher``) of
                  usable sessions
================  ===============================================  ==================================

Scalars (``SessionFacts.totals``): ``access_rows`` (session access lines in the period),
``plain_rows``, ``plain_answers`` and ``plain_answers_kept`` (scanners left out) of
``plain_requests`` in the period, ``ever_rows`` (completed sessions plus answers at any
time: zero means the data cannot judge recovery), ``log_rows`` (session access lines in
the period, ignored addresses included), ``usable_sessions`` and ``usable_clients``.

What-if (:func:`logcorr.whatif.evaluate`) asks one more, per policy, of the same engine:
``candidates``, the usable (``client_addr``, ``protocol``, ``ssl_cipher``) with
``sessions`` and ``last_ts``, of the clients with no usable session in the policy's
``inside`` pairs (a small table of ``protocol``, ``ssl_cipher``, judged in Python per
distinct pair of ``combos``).

Null keys are groups of their own, as SQL groups them; :func:`canonical` puts every frame
in one order and dtype, so that two producers' facts compare equal.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

FAILED_STREAM = (400, 500)
NOT_ANSWERS = (400, 301, 302, 307, 308)
LEGACY_RANK = 2  # TLSv1.1 in logcorr.profile.PROTOCOLS: a best protocol of rank 0..2 is legacy

KEYS: dict[str, list[str]] = {
    "hosts": ["host"], "scanner_sessions": ["client_addr"], "hours": ["host", "hour"],  # hour: hours since the epoch (UTC)
    "ever": ["client_addr"], "protocols": ["protocol"], "ciphers": ["ssl_cipher"],
    "protocol_ciphers": ["protocol", "ssl_cipher"], "sni": ["server_name"], "agents": ["family"],
    "best": ["protocol"], "legacy": ["client_addr"], "legacy_agents": ["client_addr", "user_agent"],
    "combos": ["protocol", "ssl_cipher"], "candidates": ["client_addr", "protocol", "ssl_cipher"],
}
COUNTS: dict[str, list[str]] = {
    "hosts": ["sessions", "connections"], "scanner_sessions": ["rows", "connections"], "hours": ["hour"],
    "protocols": ["sessions", "clients"], "ciphers": ["sessions", "clients"],
    "protocol_ciphers": ["sessions", "clients"], "sni": ["sessions", "clients"],
    "agents": ["sessions", "clients"], "best": ["clients"], "legacy": ["sessions"],
    "legacy_agents": ["sessions"], "candidates": ["sessions"],
}
TEXTS: dict[str, list[str]] = {"legacy": ["protocol"]}
TIMES: dict[str, list[str]] = {"hosts": ["first_ts", "last_ts"], "legacy": ["last_ts"],
                               "candidates": ["last_ts"]}
TOTALS = ("access_rows", "plain_rows", "plain_answers", "plain_answers_kept", "ever_rows", "log_rows",
          "usable_sessions", "usable_clients")
SESSION_COLUMNS = ["ts", "source", "client_addr", "ssl_protocol", "ssl_cipher", "server_name", "user_agent",
                   "is_connection", "status", "host"]
PLAIN_COLUMNS = ["ts", "client_addr", "status", "host"]

_COMPLETED = f"NOT (coalesce(source, '') = 'nginx_stream' AND coalesce(status IN {FAILED_STREAM}, false))"
_CONNECTION = "coalesce(is_connection, true)"
_ACCESS = "coalesce(source, '') <> 'pcap'"
_ANSWER = f"NOT coalesce(status IN {NOT_ANSWERS}, false)"
_FLAGS = ("LEFT JOIN ignored AS i ON t.client_addr = i.client_addr "
          "LEFT JOIN scanners AS x ON t.client_addr = x.client_addr")
_IGNORED = "i.client_addr IS NOT NULL"
_SCANNER = "x.client_addr IS NOT NULL"
_SET = "{col} IS NOT NULL AND {col} NOT IN ('', '-')"


def _by(keys: str, where: str = "TRUE") -> str:
    return (f"SELECT {keys}, sum(sessions) AS sessions, count(DISTINCT client_addr) AS clients "
            f"FROM usable WHERE {where} GROUP BY {keys}")


STAGES: dict[str, str] = {
    "session_counts": f"""
        SELECT host, hour, in_period, ignored, completed, connection, access, scanner,
               count(*) AS rows, min(ts) AS first_ts, max(ts) AS last_ts
        FROM (SELECT host, ts, {{hour}} AS hour, {{period}} AS in_period, {_IGNORED} AS ignored,
                     {_COMPLETED} AS completed, {_CONNECTION} AS connection, {_ACCESS} AS access,
                     x.client_addr AS scanner
              FROM sessions AS t {_FLAGS}) AS r
        GROUP BY host, hour, in_period, ignored, completed, connection, access, scanner""",
    "plain_counts": f"""
        SELECT host, hour, in_period, ignored, answer, scanner, count(*) AS rows
        FROM (SELECT host, {{hour}} AS hour, {{period}} AS in_period, {_IGNORED} AS ignored,
                     {_ANSWER} AS answer, {_SCANNER} AS scanner
              FROM plain AS t {_FLAGS}) AS r
        GROUP BY host, hour, in_period, ignored, answer, scanner""",
    "client_sessions": f"""
        SELECT client_addr, ssl_protocol, ssl_cipher, server_name, user_agent, pcap, in_period, completed,
               connection, count(*) AS sessions, max(ts) AS last_ts
        FROM (SELECT t.client_addr, ssl_protocol, ssl_cipher, server_name, user_agent, ts, NOT {_ACCESS} AS pcap,
                     {{period}} AS in_period, {_COMPLETED} AS completed, {_CONNECTION} AS connection
              FROM sessions AS t LEFT JOIN ignored AS i ON t.client_addr = i.client_addr
              WHERE i.client_addr IS NULL) AS r
        GROUP BY client_addr, ssl_protocol, ssl_cipher, server_name, user_agent, pcap, in_period, completed,
                 connection""",
    "usable": """
        SELECT c.client_addr, n.protocol, n.rank, c.ssl_cipher, c.server_name, c.user_agent, c.sessions, c.last_ts
        FROM client_sessions AS c JOIN protocol_names AS n ON c.ssl_protocol = n.raw
        WHERE c.in_period AND c.completed AND c.connection AND c.client_addr IS NOT NULL
          AND c.client_addr NOT IN (SELECT client_addr FROM excluded) AND {pcap_rule}""",
}
"""The three aggregates every fact is read from (each one scan of its table, joined with
the small address tables: Spark allows ``IN (subquery)`` only as a filter), then
``usable``: ``session_counts`` (per host, UTC hour, and flags: a few rows per host-hour;
``scanner`` keeps the address of scanner rows only), ``plain_counts`` (the same for
``plain_requests``), ``client_sessions`` (per client and what its sessions logged, all
times, ignored addresses left out), ``usable`` (the rows of ``client_sessions`` that are
usable sessions, protocols normalised: a (client, protocol, ...) may come in more than one
row, so facts sum ``sessions`` and count distinct clients).  ``{hour}`` is the dialect's hours since the
epoch of ``ts`` (:data:`DIALECTS`), ``{period}`` :meth:`Scope.sql`, ``{pcap_rule}``
:meth:`Scope.pcap_rule`."""

_KEPT = "in_period AND NOT ignored"
SQL: dict[str, str] = {
    "hosts": f"""
        SELECT host, sum(rows) AS sessions, sum(CASE WHEN connection THEN rows ELSE 0 END) AS connections,
               min(first_ts) AS first_ts, max(last_ts) AS last_ts
        FROM session_counts WHERE {_KEPT} AND completed AND scanner IS NULL GROUP BY host""",
    "scanner_sessions": f"""
        SELECT scanner AS client_addr, sum(rows) AS rows, sum(CASE WHEN connection THEN rows ELSE 0 END) AS connections
        FROM session_counts WHERE {_KEPT} AND scanner IS NOT NULL GROUP BY scanner""",
    "hours": f"""
        SELECT DISTINCT host, hour FROM (
            SELECT host, hour FROM session_counts WHERE {_KEPT} AND access
            UNION ALL SELECT host, hour FROM plain_counts WHERE {_KEPT}) AS lines
        WHERE hour IS NOT NULL""",
    "ever": f"""
        SELECT DISTINCT client_addr FROM (
            SELECT client_addr FROM client_sessions WHERE completed
            UNION ALL SELECT t.client_addr FROM plain AS t LEFT JOIN ignored AS i ON t.client_addr = i.client_addr
                      WHERE {_ANSWER} AND i.client_addr IS NULL) AS got_in
        WHERE client_addr IN (SELECT client_addr FROM wanted)""",
    "protocols": _by("protocol"),
    "ciphers": _by("ssl_cipher", _SET.format(col="ssl_cipher")),
    "protocol_ciphers": _by("protocol, ssl_cipher", _SET.format(col="ssl_cipher")),
    "sni": _by("server_name", _SET.format(col="server_name")),
    "agents": """
        SELECT f.family, sum(u.sessions) AS sessions, count(DISTINCT u.client_addr) AS clients
        FROM usable AS u JOIN ua_families AS f ON u.user_agent = f.user_agent GROUP BY f.family""",
    "best": """
        SELECT protocol, count(*) AS clients FROM (
            SELECT DISTINCT u.client_addr, u.protocol FROM usable AS u
            JOIN (SELECT client_addr, max(rank) AS rank FROM usable GROUP BY client_addr) AS b
              ON u.client_addr = b.client_addr AND u.rank = b.rank) AS top GROUP BY protocol""",
    "legacy": f"""
        SELECT u.client_addr, max(CASE WHEN u.rank = b.rank THEN u.protocol END) AS protocol,
               sum(u.sessions) AS sessions, max(u.last_ts) AS last_ts
        FROM usable AS u JOIN (SELECT client_addr, max(rank) AS rank FROM usable GROUP BY client_addr
                               HAVING max(rank) BETWEEN 0 AND {LEGACY_RANK}) AS b
          ON u.client_addr = b.client_addr
        GROUP BY u.client_addr""",
    "legacy_agents": f"""
        SELECT client_addr, user_agent, sum(sessions) AS sessions FROM usable
        WHERE user_agent IS NOT NULL AND client_addr IN (
            SELECT client_addr FROM usable GROUP BY client_addr HAVING max(rank) BETWEEN 0 AND {LEGACY_RANK})
        GROUP BY client_addr, user_agent""",
    "combos": "SELECT DISTINCT protocol, ssl_cipher FROM usable",
    "candidates": """
        SELECT client_addr, protocol, ssl_cipher, sum(sessions) AS sessions, max(last_ts) AS last_ts FROM usable
        WHERE client_addr NOT IN (
            SELECT u.client_addr FROM usable AS u JOIN inside AS i
              ON u.protocol = i.protocol AND coalesce(u.ssl_cipher, '') = coalesce(i.ssl_cipher, ''))
        GROUP BY client_addr, protocol, ssl_cipher""",
    "access_rows": f"SELECT sum(rows) FROM session_counts WHERE {_KEPT} AND access",
    "plain_rows": f"SELECT sum(rows) FROM plain_counts WHERE {_KEPT}",
    "plain_answers": f"SELECT sum(rows) FROM plain_counts WHERE {_KEPT} AND answer",
    "plain_answers_kept": f"SELECT sum(rows) FROM plain_counts WHERE {_KEPT} AND answer AND NOT scanner",
    "ever_rows": """
        SELECT coalesce((SELECT sum(rows) FROM session_counts WHERE NOT ignored AND completed), 0)
             + coalesce((SELECT sum(rows) FROM plain_counts WHERE NOT ignored AND answer), 0)""",
    "log_rows": "SELECT sum(rows) FROM session_counts WHERE in_period AND access",
    "usable_sessions": "SELECT sum(sessions) FROM usable",
    "usable_clients": "SELECT count(DISTINCT client_addr) FROM usable",
}
"""The facts (module docstring), as SQL over :data:`STAGES`, the small tables, the view
``plain`` (``ever``) and the table ``inside`` (``candidates``)."""

LOG_ROWS_OF_SESSIONS = f"SELECT count(*) FROM sessions AS t WHERE {{period}} AND {_ACCESS}"
"""``SQL["log_rows"]`` read from the view ``sessions`` instead of ``session_counts`` (which
needs the scanners, known only after correlation): the same number."""

DIALECTS = {"duckdb": {"hour": "epoch_us(ts) // 3600000000", "time": "TIMESTAMPTZ '{}+00:00'"},
            "spark": {"hour": "floor(unix_micros(ts) / 3600000000)", "time": "TIMESTAMP '{}+00:00'"}}
"""What differs between the engines: ``{hour}`` (the hours since the epoch of ``ts``) and
``time`` (a UTC timestamp literal)."""

DISTINCT = {"protocol_names": "SELECT DISTINCT ssl_protocol FROM client_sessions WHERE ssl_protocol IS NOT NULL",
            "ua_families": "SELECT DISTINCT user_agent FROM client_sessions WHERE user_agent IS NOT NULL"}
"""The distinct values the two name tables are computed from."""


@dataclass(frozen=True)
class Scope:
    """Which rows the facts count (see the module docstring)."""

    since: pd.Timestamp | None = None
    until: pd.Timestamp | None = None
    ignored: frozenset[str] = frozenset()
    scanners: frozenset[str] = frozenset()
    excluded: frozenset[str] = frozenset()
    wanted: frozenset[str] = frozenset()

    def sql(self, dialect: str = "duckdb") -> str:
        """The period as a SQL predicate on ``ts`` (``dialect``: a key of :data:`DIALECTS`)."""
        parts = ["TRUE"]
        if self.since is not None:
            parts.append(f"ts >= {sql_time(self.since, dialect)}")
        if self.until is not None:
            parts.append(f"ts < {sql_time(self.until, dialect)}")
        return " AND ".join(parts)

    @staticmethod
    def pcap_rule(log_rows: int) -> str:
        """Capture rows count as sessions only when the period has no access line."""
        return "TRUE" if log_rows == 0 else "NOT c.pcap"


def sql_time(t: pd.Timestamp, dialect: str = "duckdb") -> str:
    """A UTC timestamp literal, to the microsecond."""
    u = pd.Timestamp(t).tz_convert("UTC")
    return DIALECTS[dialect]["time"].format(u.strftime("%Y-%m-%d %H:%M:%S.%f"))


def hours_since_epoch(ts: pd.Series) -> np.ndarray:
    """The UTC hour of each time, as hours since the epoch (integers, no Timestamp objects)."""
    out: np.ndarray = ts.dt.as_unit("us").astype("int64").to_numpy() // 3_600_000_000
    return out


def protocol_names(raw: Collection[str]) -> pd.DataFrame:
    """The ``protocol_names`` table for the distinct logged ``raw`` protocols."""
    from logcorr.profile import normalize_protocol, protocol_rank

    names = sorted({str(p) for p in raw})
    norm = [normalize_protocol(p) or p for p in names]
    return pd.DataFrame({"raw": names, "protocol": norm, "rank": [protocol_rank(p) for p in norm]})


def ua_families(agents: Collection[str]) -> pd.DataFrame:
    """The ``ua_families`` table for the distinct logged ``agents`` (agents of no family left out)."""
    from logcorr.report.successes import ua_family

    rows = [(a, f) for a in sorted({str(x) for x in agents}) if (f := ua_family(a)) is not None]
    return pd.DataFrame(rows, columns=["user_agent", "family"])


@dataclass
class SessionFacts:
    """The facts of one :class:`Scope`; ``candidates(inside)`` asks the engine for one policy's."""

    frames: dict[str, pd.DataFrame]
    totals: dict[str, int]
    candidates: Callable[[pd.DataFrame], pd.DataFrame]

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.frames[name]

    @property
    def succeeded(self) -> set[str]:
        """Clients (among ``wanted``) that got in at some time."""
        return set(self.frames["ever"]["client_addr"].dropna().astype(str).tolist())


def canonical(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as fact ``name``: its columns, text as object (None for null), counts
    int64, times ``datetime64[us, UTC]``, rows sorted by key (nulls first)."""
    keys, counts, times = KEYS[name], COUNTS.get(name, []), TIMES.get(name, [])
    cols = list(dict.fromkeys([*keys, *TEXTS.get(name, []), *counts, *times]))
    out = pd.DataFrame(index=range(len(frame)))
    for c in cols:
        v = frame[c].reset_index(drop=True) if c in frame else pd.Series([None] * len(frame))
        if c in times:
            out[c] = pd.to_datetime(v, utc=True).astype("datetime64[us, UTC]")
        elif c in counts:
            out[c] = pd.to_numeric(v).fillna(0).astype("int64")
        else:
            o = v.astype(object)
            out[c] = o.where(o.notna(), None)
    if len(out) > 1:
        out = out.sort_values(keys, na_position="first", kind="stable", key=_sort_key).reset_index(drop=True)
    return out


def _sort_key(col: pd.Series) -> pd.Series:
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        return col
    return col.map(lambda x: None if pd.isna(x) else str(x))


# -- the pandas reference --------------------------------------------------------


def facts_from_frames(sessions: pd.DataFrame | None, plain: pd.DataFrame | None,
                      scope: Scope = Scope()) -> SessionFacts:
    """The facts computed with pandas from whole frames (the reference; tests and small data)."""
    every = _columns(sessions, SESSION_COLUMNS)
    s = _not_in(every, scope.ignored)
    p = _not_in(_columns(plain, PLAIN_COLUMNS), scope.ignored)
    sp, pp = _period(s, scope), _period(p, scope)
    done, conn = _completed(sp), _conn(sp)
    scanner = sp["client_addr"].isin(list(scope.scanners)).to_numpy(dtype=bool)
    kept = sp[done & ~scanner]
    frames: dict[str, pd.DataFrame] = {
        "hosts": _group(kept.assign(sessions=1, connections=_conn(kept).astype(int), first_ts=kept["ts"],
                                    last_ts=kept["ts"]), ["host"],
                        {"sessions": "sum", "connections": "sum", "first_ts": "min", "last_ts": "max"}),
        "scanner_sessions": _group(sp[scanner].assign(rows=1, connections=conn[scanner].astype(int)),
                                   ["client_addr"], {"rows": "sum", "connections": "sum"}),
    }
    access = _access(sp)
    lines = pd.concat([sp.loc[access, ["host", "ts"]], pp[["host", "ts"]]], ignore_index=True)
    lines = lines[lines["ts"].notna().to_numpy()]
    frames["hours"] = pd.DataFrame({"host": lines["host"].to_numpy(dtype=object),
                                    "hour": hours_since_epoch(lines["ts"])}).drop_duplicates()
    got_in = pd.concat([s.loc[_completed(s), "client_addr"], p.loc[_answer(p), "client_addr"]]).dropna()
    frames["ever"] = pd.DataFrame({"client_addr": pd.unique(got_in[got_in.isin(list(scope.wanted))])})
    log_rows = int(_access(_period(every, scope)).sum())
    answered = _answer(pp)
    totals = {"access_rows": int(access.sum()), "plain_rows": len(pp), "plain_answers": int(answered.sum()),
              "plain_answers_kept": int((answered & ~pp["client_addr"].isin(list(scope.scanners))
                                         .to_numpy(dtype=bool)).sum()),
              "ever_rows": int(_completed(s).sum() + _answer(p).sum()), "log_rows": log_rows}
    u = _usable(sp, scope, log_rows)
    frames.update(_policy_frames(u))
    totals.update(usable_sessions=len(u), usable_clients=int(u["client_addr"].nunique()))

    def candidates(inside: pd.DataFrame) -> pd.DataFrame:
        pairs = set(zip(inside["protocol"], inside["ssl_cipher"].astype(object).fillna(""), strict=True))
        hit = [(pr, "" if pd.isna(c) else c) in pairs for pr, c in zip(u["protocol"], u["ssl_cipher"], strict=True)]
        rest = u[~u["client_addr"].isin(set(u.loc[hit, "client_addr"])).to_numpy(dtype=bool)]
        return canonical("candidates", _group(rest.assign(sessions=1), KEYS["candidates"],
                                              {"sessions": "sum", "ts": "max"}).rename(columns={"ts": "last_ts"}))

    return SessionFacts({k: canonical(k, v) for k, v in frames.items()}, totals, candidates)


def _usable(sp: pd.DataFrame, scope: Scope, log_rows: int) -> pd.DataFrame:
    keep = _completed(sp) & _conn(sp) & sp["client_addr"].notna().to_numpy() & sp["ssl_protocol"].notna().to_numpy()
    keep &= ~sp["client_addr"].isin(list(scope.excluded)).to_numpy(dtype=bool)
    if log_rows:
        keep &= _access(sp)
    u = sp[keep]
    names = protocol_names(u["ssl_protocol"].unique())
    by_raw = dict(zip(names["raw"], zip(names["protocol"], names["rank"], strict=True), strict=True))
    pairs = [by_raw[str(p)] for p in u["ssl_protocol"]]
    return pd.DataFrame({"client_addr": u["client_addr"].to_numpy(dtype=object),
                         "protocol": [p for p, _ in pairs], "rank": [r for _, r in pairs],
                         "ssl_cipher": u["ssl_cipher"].to_numpy(dtype=object),
                         "server_name": u["server_name"].to_numpy(dtype=object),
                         "user_agent": u["user_agent"].to_numpy(dtype=object), "ts": u["ts"].to_numpy()})


def _policy_frames(u: pd.DataFrame) -> dict[str, pd.DataFrame]:
    def by(keys: list[str], rows: pd.DataFrame) -> pd.DataFrame:
        return _group(rows.assign(sessions=1), keys, {"sessions": "sum", "client_addr": "nunique"}).rename(
            columns={"client_addr": "clients"})

    def is_set(col: str) -> np.ndarray:
        out: np.ndarray = (u[col].notna() & ~u[col].isin(["", "-"])).to_numpy(dtype=bool)
        return out

    fam = ua_families(u["user_agent"].dropna().unique())
    family = u["user_agent"].map(dict(zip(fam["user_agent"], fam["family"], strict=True)))
    top = u.groupby("client_addr")["rank"].transform("max") if len(u) else u["rank"]
    best = u[(u["rank"] == top).to_numpy(dtype=bool)].drop_duplicates(["client_addr", "protocol"])
    legacy = u[((top >= 0) & (top <= LEGACY_RANK)).to_numpy(dtype=bool)]
    legacy = legacy.assign(protocol=legacy["protocol"].where((legacy["rank"] == top[legacy.index]).to_numpy()))
    return {
        "protocols": by(["protocol"], u), "ciphers": by(["ssl_cipher"], u[is_set("ssl_cipher")]),
        "protocol_ciphers": by(["protocol", "ssl_cipher"], u[is_set("ssl_cipher")]),
        "sni": by(["server_name"], u[is_set("server_name")]),
        "agents": by(["family"], u.assign(family=family.to_numpy(dtype=object))[family.notna().to_numpy()]),
        "best": _group(best.assign(clients=1), ["protocol"], {"clients": "sum"}),
        "legacy": _group(legacy.assign(sessions=1), ["client_addr"],
                         {"protocol": "max", "sessions": "sum", "ts": "max"}).rename(columns={"ts": "last_ts"}),
        "legacy_agents": _group(legacy[legacy["user_agent"].notna().to_numpy()].assign(sessions=1),
                                ["client_addr", "user_agent"], {"sessions": "sum"}),
        "combos": u[["protocol", "ssl_cipher"]].drop_duplicates(),
    }


def _columns(frame: pd.DataFrame | None, cols: list[str]) -> pd.DataFrame:
    """``frame`` with ``cols`` (missing ones null): text as object, ``ts`` UTC."""
    n = 0 if frame is None else len(frame)
    out = pd.DataFrame(index=range(n))
    for c in cols:
        v = frame[c].reset_index(drop=True) if frame is not None and c in frame else pd.Series([None] * n)
        if c == "ts":
            out[c] = pd.to_datetime(v, utc=True).astype("datetime64[us, UTC]")
        elif c == "status":
            out[c] = pd.to_numeric(v, errors="coerce").astype("float64")
        elif c == "is_connection":
            out[c] = v.astype("boolean")
        else:
            o = v.astype(object)
            out[c] = o.where(o.notna(), None)
    return out


def _not_in(frame: pd.DataFrame, addresses: Collection[str]) -> pd.DataFrame:
    if not addresses:
        return frame
    return frame[~frame["client_addr"].isin(list(addresses)).to_numpy(dtype=bool)]


def _period(frame: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    keep = np.ones(len(frame), dtype=bool)
    if scope.since is not None:
        keep &= (frame["ts"] >= scope.since).fillna(False).to_numpy(dtype=bool)
    if scope.until is not None:
        keep &= (frame["ts"] < scope.until).fillna(False).to_numpy(dtype=bool)
    return frame[keep]


def _completed(frame: pd.DataFrame) -> np.ndarray:
    stream = (frame["source"].fillna("") == "nginx_stream").to_numpy(dtype=bool)
    return ~(stream & frame["status"].isin(FAILED_STREAM).to_numpy(dtype=bool))


def _conn(frame: pd.DataFrame) -> np.ndarray:
    out: np.ndarray = frame["is_connection"].fillna(True).to_numpy(dtype=bool)
    return out


def _access(frame: pd.DataFrame) -> np.ndarray:
    out: np.ndarray = (frame["source"].fillna("") != "pcap").to_numpy(dtype=bool)
    return out


def _answer(frame: pd.DataFrame) -> np.ndarray:
    out: np.ndarray = ~frame["status"].isin(NOT_ANSWERS).to_numpy(dtype=bool)
    return out


def _group(frame: pd.DataFrame, keys: list[str], aggs: dict[str, Any]) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(columns=[*keys, *aggs])
    return frame.groupby(keys, dropna=False, sort=False).agg(aggs).reset_index()
