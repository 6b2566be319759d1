"""From a data directory to a :class:`Report`: lean reads, correlation, the ``matches`` table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from logcorr import schema
from logcorr.api import _clients, to_pandas
from logcorr.report.sessionsummary import SessionSummary, summarise_sessions
from logcorr.store import Store

if TYPE_CHECKING:
    from logcorr.api import Dataset
    from logcorr.evidence import Evidence
    from logcorr.report.build import Report


@dataclass
class Work:
    """How an engine does the report's heavy part (``logcorr.engines``); the rest is shared.

    ``matches(window_s, min_protocol)``: the ``matches`` rows (``correlate``'s columns);
    ``sessions(since, until, clients)``: the :class:`SessionSummary` of every session, with
    ``succeeded`` among ``clients``; ``save(matches)``: store them (None: the engine stored
    them itself while computing); ``save`` returns None, or why the table was not saved.
    """

    matches: Callable[[int, str], pd.DataFrame]
    sessions: Callable[[Any, Any, list[str]], SessionSummary]
    save: Callable[[pd.DataFrame], str | None] | None
    notes: list[str | None] = field(default_factory=list)
    """Lines for the report's ``notes`` (``matches`` not saved, and why)."""


def embedded_work(dataset: Dataset) -> Work:
    """The in-process engine: pandas over the stored tables, the reference for the others."""

    def matches(window_s: int, min_protocol: str) -> pd.DataFrame:
        from logcorr.correlate import correlate
        from logcorr.evidence import load_evidence

        evidence = load_evidence(dataset)
        failures = judge_evidence(evidence.failures, evidence.headers, evidence)
        # Sessions in full only for clients that failed.
        sessions = dataset.sessions(_clients(failures))
        return correlate(failures, sessions, window_s, min_protocol,
                         lb_networks=evidence.lb_networks, lb_addrs=evidence.lb_addrs)

    def sessions(since: Any, until: Any, clients: list[str]) -> SessionSummary:
        # Rates and "ever succeeded" need every session, but only three narrow columns.
        frame = to_pandas(dataset.store.read("tls_sessions", ["ts", "client_addr", "is_connection"]))
        return summarise_sessions(frame, since, until, clients)

    return Work(matches=matches, sessions=sessions, save=lambda m: save_matches(dataset.store, m))


def judge_evidence(failures: pd.DataFrame, headers: pd.DataFrame, evidence: Evidence) -> pd.DataFrame:
    """Load balancers marked, then every kind of evidence applied (``logcorr.attribution``).

    Works on all hosts at once or on one host's rows (the Spark engine's partitions): every
    rule in it is per host.
    """
    from logcorr.attribution import attribute_failures
    from logcorr.correlate import mark_load_balancers

    return attribute_failures(mark_load_balancers(failures, evidence.lb_networks, evidence.lb_addrs),
                              headers)


def attributed_failures(dataset: Dataset) -> pd.DataFrame:
    """Every stored failure, times placed and evidence applied."""
    from logcorr.evidence import load_evidence

    evidence = load_evidence(dataset)
    return judge_evidence(evidence.failures, evidence.headers, evidence)


def save_matches(store: Store, matches: pd.DataFrame) -> str | None:
    """Replace the stored ``matches``; None, or one line saying why they were not saved."""
    table = pa.Table.from_pandas(matches, preserve_index=False)
    return store.replace_table("matches", schema.conform("matches", table))


def run_report(dataset: Dataset, *, window: str | int, min_protocol: str,
               since: str | None, until: str | None, save_matches: bool,
               work: Work | None = None) -> Report:
    """Correlate and build the report; write ``matches`` beside the other tables."""
    from logcorr.correlate import PROTOCOL_ORDER
    from logcorr.report.build import build_report
    from logcorr.timewindow import parse_time, parse_window

    store = dataset.store
    store.require()
    window_s = window if isinstance(window, int) else parse_window(window)
    if min_protocol not in PROTOCOL_ORDER:
        from logcorr.errors import LogcorrError

        raise LogcorrError(f"--min-protocol {min_protocol!r}: use one of {', '.join(PROTOCOL_ORDER)}")
    t0 = parse_time(since) if since else None
    t1 = parse_time(until) if until else None
    work = work or embedded_work(dataset)

    matches = work.matches(window_s, min_protocol)
    summary = work.sessions(t0, t1, _clients(matches))
    # The load-balancer section and the capture findings need the failures themselves:
    # small inputs (metric periods, captured hellos), read here for every engine.
    needs_failures = bool(store.files("lb_metrics")) or bool(store.files("client_hellos"))
    failures = attributed_failures(dataset) if needs_failures else pd.DataFrame()
    lb = None
    findings: list[str] = []
    if store.files("lb_metrics"):
        from logcorr.report.lb import lb_findings, lb_section

        metrics = to_pandas(store.read("lb_metrics"))
        all_sessions = to_pandas(store.read("tls_sessions", ["ts", "source", "client_addr", "is_connection"]))
        lb = lb_section(metrics, failures, all_sessions)
        findings += lb_findings(lb) if lb else []

    findings += _needs_findings(store, failures)
    report = build_report(failures, summary, matches, window_s=window_s, min_protocol=min_protocol,
                          since=t0, until=t1, lb=lb, extra_findings=findings)
    report.data["attribution"] = attribution_counts(matches)
    _drop_guess_confirmed_by_capture(report.data["verdict"]["findings"])
    if save_matches and work.save is not None:
        work.notes.append(work.save(matches))
    for note in work.notes:
        if note:
            report.data.setdefault("notes", []).append(note)
    return report


def _needs_findings(store: Store, failures: pd.DataFrame) -> list[str]:
    """What the failing clients offered against what the server accepts (captures needed)."""
    if not store.files("client_hellos"):
        return []
    from logcorr.api import to_pandas
    from logcorr.needs import client_needs
    from logcorr.profile import profile_from_json

    hellos = to_pandas(store.read("client_hellos"))
    profiles = store.manifest["settings"].get("server_profiles", {})
    # nginx.conf first (it is the configuration), else the first scan.
    keys = sorted(profiles, key=lambda k: (not k.startswith("nginx.conf:"), k))
    profile = profile_from_json(profiles[keys[0]]) if keys else None
    found, _ = client_needs(hellos, failures, profile)
    return list(found)


def attribution_counts(matches: pd.DataFrame) -> dict[str, int]:
    """Failures by how their client was named (SPEC §6), strongest evidence first."""
    if matches.empty:
        return {}
    counts = matches["attribution"].fillna("unknown").value_counts()
    return {str(k): int(v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}


def _drop_guess_confirmed_by_capture(findings: list[str]) -> None:
    """The logs can only suspect 'SCSV on every connection?'; a capture that saw it says so."""
    if any("sent TLS_FALLBACK_SCSV on every connection" in f for f in findings):
        findings[:] = [f for f in findings if "SCSV on every connection?" not in f]
