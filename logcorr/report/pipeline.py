"""From a data directory to a :class:`Report`: lean reads, correlation, the ``matches`` table."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from logcorr import schema
from logcorr.facts import Scope, SessionFacts
from logcorr.report.policy_sections import attach_policy_sections
from logcorr.store import Store

DUCKDB_FROM_ROWS = 200_000
"""Session rows from which DuckDB computes the facts (``run_report``'s ``facts_with="auto"``)."""
DRILLDOWN_COLUMNS = ["ts", "source", "client_addr", "ssl_protocol", "ssl_cipher", "server_name", "user_agent",
                     "is_connection", "status", "file", "line", "conn_id", "host"]
"""Session columns the drill-down shows (:func:`logcorr.show.timeline`)."""

CORRELATED_COLUMNS = ["ts", "source", "client_addr", "ssl_protocol", "ssl_cipher", "file", "line", "status"]
"""Session columns :func:`logcorr.correlate.correlate` and :func:`logcorr.sequence.preceded_by` read."""

if TYPE_CHECKING:
    from concurrent.futures import Future

    from logcorr.api import Dataset
    from logcorr.evidence import Evidence
    from logcorr.factsdb import Ahead
    from logcorr.policies import Policy
    from logcorr.report.build import Report


@contextlib.contextmanager
def fewer_collections(threshold: int = 100_000) -> Iterator[None]:
    """Python's cyclic garbage collector runs every ``threshold`` new objects instead of 700.

    A report at scale makes millions of objects that live to its end (the lists of a
    million failures' clients); each collection walks all of them again: about 10 % of
    the report's time.  Reference counting frees everything else as before.
    """
    import gc

    before = gc.get_threshold()
    gc.set_threshold(threshold, before[1], before[2])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def run_report(dataset: Dataset, *, window: str | int, min_protocol: str,
               since: str | None, until: str | None, save_matches: bool,
               what_if: Sequence[Policy] = (),
               correlate_with: Callable[..., pd.DataFrame] | None = None, facts_with: Any = "auto",
               preceded_with: Callable[..., pd.DataFrame] | None = None) -> Report:
    """Correlate and build the report; write ``matches`` beside the other tables.

    ``facts_with``: what computes the session facts (:mod:`logcorr.facts`): ``duckdb``
    (over the Parquet files), ``pandas`` (the reference, from the whole tables read), or
    ``auto``: pandas below :data:`DUCKDB_FROM_ROWS` session rows (a ``watch`` round, the
    samples: DuckDB's fixed cost is larger there), DuckDB above.  Both give the same facts.

    ``correlate_with``: what computes ``matches`` instead of :func:`logcorr.correlate.correlate`
    (same arguments; the Spark engine's, which computes them where the rows are and saves
    them itself: it returns ``(matches, note)`` and the table is then not saved here);
    ``facts_with`` may also be an engine object (:func:`session_facts`'s ``engine``: the
    Spark engine's); ``preceded_with``: what computes ``preceded_by``
    (:func:`logcorr.report.policy_sections.attach_policy_sections`).  With all three given
    (the Spark engine), no session row is read here but the drill-down's few clients'.
    """
    with fewer_collections():
        return _run_report(dataset, window=window, min_protocol=min_protocol, since=since, until=until,
                           save_matches=save_matches, what_if=what_if, correlate_with=correlate_with,
                           facts_with=facts_with, preceded_with=preceded_with)


def _run_report(dataset: Dataset, *, window: str | int, min_protocol: str,
                since: str | None, until: str | None, save_matches: bool,
                what_if: Sequence[Policy], correlate_with: Callable[..., pd.DataFrame] | None,
                facts_with: Any, preceded_with: Callable[..., pd.DataFrame] | None) -> Report:
    from logcorr.api import _clients, to_pandas
    from logcorr.correlate import PROTOCOL_ORDER, correlate
    from logcorr.report.build import build_report
    from logcorr.report.verdict import fallback_clause, finding
    from logcorr.timewindow import parse_time, parse_window

    store = dataset.store
    store.require()
    window_s = window if isinstance(window, int) else parse_window(window)
    if min_protocol not in PROTOCOL_ORDER:
        from logcorr.errors import LogcorrError

        raise LogcorrError(f"--min-protocol {min_protocol!r}: use one of {', '.join(PROTOCOL_ORDER)}")
    t0 = parse_time(since) if since else None
    t1 = parse_time(until) if until else None
    notes: list[str] = []

    from logcorr.evidence import load_evidence

    evidence = load_evidence(dataset)
    scanner_cidrs, ignore_cidrs = evidence.scanner_networks, evidence.ignore_networks
    if facts_with == "auto":
        rows = store.count("tls_sessions") + store.count("plain_requests")
        facts_with = "duckdb" if rows >= DUCKDB_FROM_ROWS else "pandas"
    failures = judge_evidence(evidence.failures, evidence.headers, evidence)
    # judged: the raw rows are not read again
    evidence.failures, evidence.headers = evidence.failures.iloc[:0], evidence.headers.iloc[:0]
    clients = _clients(failures)
    # Session rows only for clients that failed (correlation); the rest comes as facts.
    elsewhere = correlate_with is not None and not isinstance(facts_with, str) and preceded_with is not None
    sessions = client_sessions(store, CORRELATED_COLUMNS, [] if elsewhere else clients)
    if facts_with == "duckdb":  # beside the correlation (after the read above: DuckDB uses both cores)
        facts_with = DuckDBFacts(store)
        facts_with.start(dataset, since=t0, until=t1, ignore_cidrs=ignore_cidrs)
    hellos = to_pandas(store.read("client_hellos")) if store.files("client_hellos") else None
    saved_note: str | None = None
    if correlate_with is None:
        matches = correlate(failures, sessions, window_s, min_protocol,
                            lb_networks=evidence.lb_networks, lb_addrs=evidence.lb_addrs, hellos=hellos,
                            scanner_cidrs=scanner_cidrs, ignore_cidrs=ignore_cidrs)
    else:
        matches, saved_note = correlate_with(window_s, min_protocol, save=save_matches)
        save_matches = False
        if saved_note:
            notes.append(saved_note)

    sessions = sessions[[c for c in ("ts", "client_addr") if c in sessions]]  # all preceded_by reads
    lb = None
    findings: list[dict[str, Any]] = []
    if store.files("lb_metrics"):
        from logcorr.report.lb import lb_findings, lb_section

        metrics = to_pandas(store.read("lb_metrics"))
        from logcorr.attribution import representatives

        all_sessions = _read(store, "tls_sessions", ["ts", "source", "is_connection"])
        lb = lb_section(metrics, representatives(failures), all_sessions)
        findings += [finding("lb", text) for text in (lb_findings(lb) if lb else [])]

    needs, confirmed = _needs_findings(store, failures, hellos)
    findings += needs
    facts, excluded = session_facts(dataset, matches, since=t0, until=t1, ignore_cidrs=ignore_cidrs,
                                    engine=facts_with)
    report = build_report(failures, None, matches, window_s=window_s, min_protocol=min_protocol,
                          since=t0, until=t1, lb=lb, extra_findings=findings,
                          rejects=store.count("rejects"), facts=facts)
    report.data["attribution"] = attribution_counts(matches)
    _drop_guess_confirmed_by_capture(report.data["verdict"]["findings"], confirmed)
    for line in notes:
        report.data.setdefault("notes", []).append(line)
    attach_policy_sections(report, dataset, matches, what_if, failures=failures, since=t0, until=t1,
                           facts=facts, excluded=excluded,
                           sessions=sessions, drilldown_rows=_drilldown_rows(store),
                           preceded_with=preceded_with)
    clause = fallback_clause(report.data.get("fallback_evidence"))
    if clause:
        report.data["verdict"]["summary"] += "; " + clause
    if save_matches:
        table = pa.Table.from_pandas(matches, preserve_index=False)
        note = store.replace_table("matches", schema.conform("matches", table))
        if note:
            report.data.setdefault("notes", []).append(note)
    return report


class DuckDBFacts:
    """The embedded engine's facts: DuckDB in this process over the store's files (:mod:`logcorr.factsdb`).

    :meth:`start` computes, in a thread, what needs no matches (the addresses, the
    per-client stage, the usable sessions' facts) while the report correlates.
    """

    def __init__(self, store: Store) -> None:
        from logcorr.factsdb import connect

        self.store = store
        self.con = connect()
        self._addresses: dict[tuple[str, ...], list[str]] = {}
        self._ahead: Ahead | None = None
        self._job: Future[None] | None = None

    def start(self, dataset: Dataset, *, since: pd.Timestamp | None, until: pd.Timestamp | None,
              ignore_cidrs: Sequence[Any]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(1, thread_name_prefix="logcorr-facts")
        self._job = pool.submit(self._prepare, dataset, since, until, ignore_cidrs)
        pool.shutdown(wait=False)

    def _prepare(self, dataset: Dataset, since: pd.Timestamp | None, until: pd.Timestamp | None,
                 ignore_cidrs: Sequence[Any]) -> None:
        from logcorr.factsdb import Ahead

        self.con.execute("SET threads = 1")  # the other core correlates
        try:
            ignored, excluded = not_clients(dataset, self._distinct, ignore_cidrs, None)
            self._ahead = Ahead(self.store, Scope(since=since, until=until, ignored=frozenset(ignored),
                                                  excluded=frozenset(excluded)), self.con)
        finally:
            self.con.execute("RESET threads")

    def _wait(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            job.result()  # the thread's error, if any, is raised here

    def _distinct(self, tables: tuple[str, ...] = ("tls_sessions", "plain_requests")) -> list[str]:
        if tables not in self._addresses:
            from logcorr.factsdb import addresses

            self._addresses[tables] = addresses(self.store, tables, con=self.con)
        return self._addresses[tables]

    def addresses(self, tables: tuple[str, ...] = ("tls_sessions", "plain_requests")) -> list[str]:
        self._wait()
        return self._distinct(tables)

    def facts(self, scope: Scope) -> SessionFacts:
        from logcorr.factsdb import facts_from_store

        self._wait()
        return facts_from_store(self.store, scope, con=self.con, ahead=self._ahead)


class PandasFacts:
    """The reference: the whole tables read into this process, facts by pandas (small data)."""

    def __init__(self, store: Store) -> None:
        from logcorr.api import to_pandas
        from logcorr.facts import PLAIN_COLUMNS, SESSION_COLUMNS

        self.frames = {t: to_pandas(store.read(t, [c for c in cols if c in schema.TABLES[t].names]))
                       for t, cols in (("tls_sessions", SESSION_COLUMNS), ("plain_requests", PLAIN_COLUMNS))}

    def addresses(self, tables: tuple[str, ...] = ("tls_sessions", "plain_requests")) -> list[str]:
        return sorted({str(a) for t in tables for a in self.frames[t]["client_addr"].dropna().unique()})

    def facts(self, scope: Scope) -> SessionFacts:
        from logcorr.facts import facts_from_frames

        return facts_from_frames(self.frames["tls_sessions"], self.frames["plain_requests"], scope)


def session_facts(dataset: Dataset, matches: pd.DataFrame, *, since: pd.Timestamp | None,
                  until: pd.Timestamp | None, ignore_cidrs: Sequence[Any], engine: Any = "duckdb"
                  ) -> tuple[SessionFacts, set[str]]:
    """The session facts of the report of ``matches`` and the addresses that are not real
    clients (what the policy sections leave out).

    ``engine`` computes them: ``duckdb`` (:class:`DuckDBFacts`), ``pandas``
    (:class:`PandasFacts`), or an object with the same two methods (the Spark engine's
    :class:`logcorr.engines.sparkfacts.SparkFacts`); all run the one definition of
    :mod:`logcorr.facts`.
    """
    from logcorr.report.build import report_scope

    engine = {"duckdb": DuckDBFacts, "pandas": PandasFacts}[engine](dataset.store) if isinstance(engine, str) else engine
    ignored, excluded = not_clients(dataset, engine.addresses, ignore_cidrs, matches)
    scope = report_scope(matches, since=since, until=until, ignored=ignored, excluded=excluded)
    return engine.facts(scope), excluded


def not_clients(dataset: Dataset, addresses: Callable[..., list[str]], ignore_cidrs: Sequence[Any],
                matches: pd.DataFrame | None) -> tuple[set[str], set[str]]:
    """(the session addresses inside the ``--ignore`` blocks, the addresses that are not
    real clients: :func:`logcorr.report.policy_sections.excluded_addresses` of ``matches``
    and the load-balancer rules).  ``addresses(tables)``: the engine's distinct addresses."""
    from logcorr.classify import in_networks, networks
    from logcorr.report.policy_sections import excluded_addresses

    settings = dataset.store.manifest["settings"]
    nets = [*settings.get("lb_cidrs", []), *settings.get("scanner_cidrs", []), *settings.get("ignore_cidrs", [])]
    known = dataset.lb_addrs
    ignore = networks(list(ignore_cidrs))
    ignored: set[str] = set()
    if ignore:
        pool = pd.Series(addresses(), dtype=object)
        ignored = set(pool[in_networks(pool, ignore).to_numpy(dtype=bool)])
    seen = addresses(("tls_sessions",)) if nets or known else []
    return ignored, excluded_addresses(matches, seen, nets, known)


def _drilldown_rows(store: Store) -> Callable[[list[str]], pd.DataFrame]:
    """``rows(clients)``: the ``tls_sessions`` rows of ``clients`` with the columns the drill-down shows."""
    from logcorr.clientrows import client_rows

    cols = [c for c in DRILLDOWN_COLUMNS if c in schema.TABLES["tls_sessions"].names]
    return lambda clients: (client_rows(store, "tls_sessions", cols, clients, decoded=True) if clients
                            else _read(store, "tls_sessions", cols, []))


def judge_evidence(failures: pd.DataFrame, headers: pd.DataFrame, evidence: Evidence) -> pd.DataFrame:
    """Load balancers marked, then every kind of evidence applied (``logcorr.attribution``).

    Works on all hosts at once or on one host's rows (the Spark engine's partitions): every
    rule in it is per host.
    """
    from logcorr.attribution import attribute_failures
    from logcorr.correlate import mark_load_balancers

    return attribute_failures(mark_load_balancers(failures, evidence.lb_networks, evidence.lb_addrs),
                              headers)


def _read(store: Store, name: str, columns: list[str], clients: list[str] | None = None) -> pd.DataFrame:
    """Table ``name`` with those of ``columns`` that it has; only rows of ``clients`` when given."""
    import pyarrow.dataset as ds

    from logcorr.api import to_pandas

    have = [c for c in columns if c in schema.TABLES[name].names]
    if clients is not None and not clients:
        return to_pandas(schema.empty(name).select(have))
    flt = ds.field("client_addr").isin(clients) if clients is not None else None
    return to_pandas(store.read(name, have, flt))


def client_sessions(store: Store, columns: list[str], clients: list[str]) -> pd.DataFrame:
    """The ``tls_sessions`` rows of ``clients`` (:func:`logcorr.clientrows.client_rows`:
    text columns as codes), or none without clients."""
    if not clients:
        return _read(store, "tls_sessions", columns, [])
    from logcorr.clientrows import client_rows

    return client_rows(store, "tls_sessions", columns, clients)


def _needs_findings(store: Store, failures: pd.DataFrame,
                    hellos: pd.DataFrame | None) -> tuple[list[dict[str, Any]], set[str]]:
    """What the failing clients offered against what the server accepts (captures needed).

    Also returns the clients that the capture saw sending TLS_FALLBACK_SCSV on every
    connection (they confirm the logs' guess for those clients, and only those).
    """
    if hellos is None or hellos.empty:
        return [], set()
    from logcorr.needs import client_needs
    from logcorr.profile import profile_from_json
    from logcorr.report.verdict import finding

    profiles = store.manifest["settings"].get("server_profiles", {})
    # nginx.conf first (it is the configuration), else the first scan.
    keys = sorted(profiles, key=lambda k: (not k.startswith("nginx.conf:"), k))
    profile = profile_from_json(profiles[keys[0]]) if keys else None
    found, frame = client_needs(hellos, failures, profile)
    confirmed = set(frame.loc[frame["cause"] == "scsv_always", "client"].astype(str)) if len(frame) else set()
    return [finding("client_needs", text) for text in found], confirmed


def attribution_counts(matches: pd.DataFrame) -> dict[str, int]:
    """Failures by how their client was named (SPEC §6), strongest evidence first."""
    if matches.empty:
        return {}
    one = matches.drop_duplicates("failure_key") if "failure_key" in matches else matches
    counts = one["attribution"].fillna("unknown").value_counts()
    return {str(k): int(v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}


def _drop_guess_confirmed_by_capture(findings: list[dict[str, Any]], confirmed: set[str]) -> None:
    """The logs can only suspect "SCSV on every connection"; a capture that saw it for every
    client of that finding says so itself (a capture of one port never removes a finding
    about clients it did not see)."""
    findings[:] = [f for f in findings
                   if not (f.get("kind") == "scsv_every_connection" and confirmed
                           and int(f["counts"].get("clients", 0)) == len(f["clients"])
                           and set(f["clients"]) <= confirmed)]
