"""From a data directory to a :class:`Report`: lean reads, correlation, the ``matches`` table."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from logcorr import schema
from logcorr.report.policy_sections import attach_policy_sections
from logcorr.store import Store

if TYPE_CHECKING:
    from collections.abc import Sequence

    from logcorr.api import Dataset
    from logcorr.policies import Policy
    from logcorr.report.build import Report


def run_report(dataset: Dataset, *, window: str | int, min_protocol: str,
               since: str | None, until: str | None, save_matches: bool,
               what_if: Sequence[Policy] = ()) -> Report:
    """Correlate and build the report; write ``matches`` beside the other tables."""
    from logcorr.api import _clients, to_pandas
    from logcorr.correlate import PROTOCOL_ORDER, correlate
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

    from logcorr.attribution import attribute_failures
    from logcorr.correlate import mark_load_balancers
    from logcorr.evidence import load_evidence

    evidence = load_evidence(dataset)
    failures = attribute_failures(
        mark_load_balancers(evidence.failures, evidence.lb_networks, evidence.lb_addrs),
        evidence.headers)
    # Sessions in full only for clients that failed; for the rest, just what the rates need.
    sessions = dataset.sessions(_clients(failures))
    # Rates and "ever succeeded" need every session, but only four narrow columns.
    all_sessions = to_pandas(store.read("tls_sessions", ["ts", "source", "client_addr", "is_connection"]))
    matches = correlate(failures, sessions, window_s, min_protocol,
                        lb_networks=evidence.lb_networks, lb_addrs=evidence.lb_addrs)

    lb = None
    findings: list[str] = []
    if store.files("lb_metrics"):
        from logcorr.report.lb import lb_findings, lb_section

        metrics = to_pandas(store.read("lb_metrics"))
        lb = lb_section(metrics, failures, all_sessions)
        findings += lb_findings(lb) if lb else []

    findings += _needs_findings(store, failures)
    report = build_report(failures, all_sessions, matches, window_s=window_s, min_protocol=min_protocol,
                          since=t0, until=t1, lb=lb, extra_findings=findings)
    report.data["attribution"] = attribution_counts(matches)
    _drop_guess_confirmed_by_capture(report.data["verdict"]["findings"])
    attach_policy_sections(report, dataset, matches, what_if, failures=failures)
    if save_matches:
        table = pa.Table.from_pandas(matches, preserve_index=False)
        note = store.replace_table("matches", schema.conform("matches", table))
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
