"""The report's client-side sections in one call: ``successes``, ``what_if``, ``actions``, ``preceded_by``.

Pure: frames in, a dict and DataFrames out.  The report pipeline and
:meth:`logcorr.api.Dataset.what_if` both call :func:`policy_sections`, so every format and
the notebook carry the same numbers.  Who is not a real client is decided once here
(:func:`excluded_addresses`): load balancers (``--lb-cidr`` and learned), ``--scanner`` and
``--ignore`` blocks, and the addresses whose failures the analysis classed as scanner,
health check or ignored (the ``class`` column of ``matches``, SPEC §4).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from logcorr.correlate import is_lb
from logcorr.facts import SessionFacts
from logcorr.policies import Policy
from logcorr.profile import ServerProfile
from logcorr.report.actions import build_actions
from logcorr.report.successes import successes
from logcorr.sequence import by_reason, fallback_evidence, fallback_sentence, preceded_by
from logcorr.whatif import default_policies, ecdsa_only, evaluate, facts_of

if TYPE_CHECKING:
    from logcorr.api import Dataset
    from logcorr.report.build import Report

RULE_WORDS = {"protocol": "by the protocol they used", "client_hello": "by their captured ClientHello"}
DRILLDOWN_CLIENTS = 50
DRILLDOWN_ROWS = 200
NOT_CLIENTS = ("scanner", "health_check", "ignored")
WHAT_IF_COLUMNS = ["policy", "kind", "unverified", "clients_losing", "clients_maybe_losing",
                   "sessions_losing_share", "sessions_maybe_losing_share", "failing_clients_gaining"]


def excluded_addresses(matches: pd.DataFrame | None, addresses: Sequence[str],
                       networks: Sequence[str] = (), known: Sequence[str] = ()) -> set[str]:
    """Addresses (among ``addresses``, plus those of ``matches``) that are not real clients."""
    out: set[str] = set()
    if matches is not None and "class" in matches and len(matches):
        cls = matches["class"].astype(object)
        out |= set(matches.loc[cls.isin(NOT_CLIENTS).to_numpy(dtype=bool), "client_addr"].dropna().astype(str))
    pool = pd.Series(sorted({str(a) for a in addresses if isinstance(a, str)}), dtype=object)
    if len(pool) and (networks or known):
        out |= set(pool[is_lb(pool, list(networks), list(known)).to_numpy(dtype=bool)])
    return out


def policy_sections(sessions: pd.DataFrame, hellos: pd.DataFrame | None, matches: pd.DataFrame | None, *,
                    current: ServerProfile | None, policies: Sequence[Policy] | None = None,
                    exclude: set[str] | None = None, facts: SessionFacts | None = None,
                    preceded: Callable[[pd.DataFrame, pd.DataFrame | None], pd.DataFrame] | None = None
                    ) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """(JSON sections, frames).  ``policies`` None → :func:`logcorr.whatif.default_policies`.

    ``sessions``: ``tls_sessions`` rows (at least those of the clients of ``matches``, for
    ``preceded_by``); ``facts``: their session facts with ``exclude`` left out (default:
    computed from ``sessions`` by the pandas reference); ``preceded(real, hellos)``: what
    computes :func:`logcorr.sequence.preceded_by` of the real clients' failures (default: in
    this process, over ``sessions``; the Spark engine's runs client by client where the
    sessions are).
    """
    chosen = list(policies) if policies else default_policies(current)
    skip = exclude or set()
    facts = facts if facts is not None else facts_of(sessions, skip)
    data: dict[str, Any] = {"successes": successes(facts)}
    results = [evaluate(p, facts, hellos, current=current, exclude=skip) for p in chosen]
    data["what_if"] = results
    data["actions"] = build_actions(results, chosen, current, ecdsa_only(hellos, current=current, exclude=skip))
    frames: dict[str, pd.DataFrame] = {"what_if": what_if_frame(results)}
    for key in ("clients_losing_access", "clients_maybe_losing_access", "failing_clients_gaining_access"):
        frames[key] = pd.DataFrame([{"policy": r["policy"], **e} for r in results for e in r[key]])
    frames["legacy_clients"] = pd.DataFrame(data["successes"]["legacy_clients"])
    frames["actions"] = pd.DataFrame(data["actions"])
    if matches is not None and len(matches) and "attributable" in matches:
        real = matches
        if "class" in matches:
            real = matches[matches["class"].astype(object).fillna("client").eq("client").to_numpy(dtype=bool)]
        seq = preceded(real, hellos) if preceded is not None else preceded_by(real, sessions, hellos)
        ev = fallback_evidence(seq)
        data["preceded_by"] = by_reason(seq)
        data["fallback_evidence"] = {**ev, "text": fallback_sentence(ev)}
        frames["preceded_by"] = seq
    return data, frames


def what_if_frame(results: list[dict[str, Any]]) -> pd.DataFrame:
    """The what-if table: one row per policy (clients and sessions lost, failing clients gained)."""
    rows = [{"policy": r["policy"], "kind": r["kind"], "unverified": r["unverified"],
             "clients_losing": len(r["clients_losing_access"]),
             "clients_maybe_losing": len(r["clients_maybe_losing_access"]),
             "sessions_losing_share": r["sessions_losing_share"],
             "sessions_maybe_losing_share": r["sessions_maybe_losing_share"],
             "failing_clients_gaining": len(r["failing_clients_gaining_access"])} for r in results]
    return pd.DataFrame(rows, columns=WHAT_IF_COLUMNS)


def drilldown_clients(data: dict[str, Any], report_data: dict[str, Any], limit: int = DRILLDOWN_CLIENTS) -> list[str]:
    """Who gets a per-client timeline: unrecovered clients, then those a what-if names, then legacy ones."""
    names: list[str] = [str(c["client"]) for c in report_data.get("unrecovered_clients", [])]
    for w in data.get("what_if", []):
        for key in ("clients_losing_access", "clients_maybe_losing_access", "failing_clients_gaining_access"):
            names += [str(e["client"]) for e in w[key]]
    names += [str(c["client"]) for c in data.get("successes", {}).get("legacy_clients", [])]
    return list(dict.fromkeys(names))[:limit]


def client_timelines(clients: list[str], failures: pd.DataFrame, sessions: pd.DataFrame,
                     hellos: pd.DataFrame | None, matches: pd.DataFrame | None) -> pd.DataFrame:
    """The drill-down rows (:func:`logcorr.show.timeline` per client, at most :data:`DRILLDOWN_ROWS` each)."""
    from logcorr.show import COLUMNS, timeline

    wanted = set(clients)
    parts = [_by_client(f, wanted) if f is not None else None for f in (failures, sessions, hellos, matches)]
    out = []
    for client in clients:
        f, s, h, m = (_get(p, client) for p in parts)
        rows = timeline(f, s, h if hellos is not None else None, m if matches is not None else None)
        out.append(rows.head(DRILLDOWN_ROWS).assign(client=client))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["client", *COLUMNS])


def _by_client(frame: pd.DataFrame, wanted: set[str]) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The rows of ``wanted`` clients, split by client in one pass (not one scan per client)."""
    if "client_addr" not in frame:
        return frame.iloc[:0], {}
    mine = frame[frame["client_addr"].isin(list(wanted)).fillna(False).to_numpy(dtype=bool)]
    return frame.iloc[:0], {str(k): g for k, g in mine.groupby(mine["client_addr"].astype(str), sort=False)}


def _get(part: tuple[pd.DataFrame, dict[str, pd.DataFrame]] | None, client: str) -> pd.DataFrame:
    if part is None:
        return pd.DataFrame()
    empty, groups = part
    return groups.get(client, empty)


def _in_period(frame: pd.DataFrame, since: Any, until: Any) -> pd.DataFrame:
    if "ts" not in frame or (since is None and until is None):
        return frame
    ts = pd.to_datetime(frame["ts"], utc=True)
    keep = ts.notna()
    if since is not None:
        keep &= ts >= pd.Timestamp(since)
    if until is not None:
        keep &= ts < pd.Timestamp(until)
    return frame[keep.to_numpy(dtype=bool)]


def attach_policy_sections(report: Report, dataset: Dataset, matches: pd.DataFrame,
                           policies: Sequence[Policy] = (), failures: pd.DataFrame | None = None,
                           since: Any = None, until: Any = None, *, facts: SessionFacts,
                           excluded: set[str], sessions: pd.DataFrame,
                           drilldown_rows: Callable[[list[str]], pd.DataFrame],
                           preceded_with: Callable[..., pd.DataFrame] | None = None) -> None:
    """Add ``successes``, ``what_if``, ``actions`` and ``preceded_by`` to a built report (the pipeline's one call).

    ``facts``: the session facts of the report's scope (their ``excluded`` are
    ``excluded``); ``sessions``: ``tls_sessions`` rows (``ts``, ``client_addr``) of at least
    the clients of ``matches`` (``preceded_by``); ``drilldown_rows(clients)``: the rows of
    those clients with what the drill-down shows.  Rows are needed only of those clients.
    ``preceded_with(real, hellos, since, until)``: computes ``preceded_by`` instead of this
    process (the Spark engine's; ``sessions`` is then not read).
    Hellos and failures are those in ``[since, until)`` like the rest of the report; the
    keys go where SPEC §7 lists them (after ``health_checks``, before ``hosts``).
    """
    store = dataset.store
    hellos = _in_period(_to_pandas(store.read("client_hellos")), since, until) if store.files("client_hellos") else None
    matches = _in_period(matches, since, until)
    failures = _in_period(failures, since, until) if failures is not None else None
    data, frames = policy_sections(_in_period(sessions, since, until), hellos, matches,
                                   current=dataset.server_profile(), policies=policies, exclude=excluded,
                                   facts=facts,
                                   preceded=(None if preceded_with is None else
                                             lambda real, h: preceded_with(real, h, since, until)))
    who = drilldown_clients(data, report.data)
    report.frames["client_timelines"] = client_timelines(
        who, failures if failures is not None else matches, _in_period(drilldown_rows(who), since, until),
        hellos, matches)
    per_reason = data.pop("preceded_by", {})
    for row in report.data.get("reasons", []):
        row["preceded_by"] = per_reason.get(row["reason"], {"peer_closed": 0, "timeout": 0, "success": 0,
                                                            "none_seen": 0})
    before = "hosts" if "hosts" in report.data else "verdict"
    ordered: dict[str, Any] = {}
    for key, value in report.data.items():
        if key == before:
            ordered.update(data)
        ordered[key] = value
    ordered.update({k: v for k, v in data.items() if k not in ordered})
    report.data.clear()
    report.data.update(ordered)
    report.frames.update({f"what_if_{k}" if k != "what_if" else k: v for k, v in frames.items()})
    findings = report.data.get("verdict", {}).get("findings")
    if isinstance(findings, list):
        as_objects = str(report.data.get("schema", "")).endswith("/2") or any(isinstance(f, dict) for f in findings)
        for f in policy_findings(data, asked=bool(policies)):
            findings.append(f if as_objects else f["text"])


def _to_pandas(table: Any) -> pd.DataFrame:
    from logcorr.api import to_pandas

    return to_pandas(table)


def policy_findings(data: dict[str, Any], asked: bool = True) -> list[dict[str, Any]]:
    """Findings (SPEC §7 objects) that point at the what-if results and their actions.

    A policy the user asked for (``--what-if``) always gets one; a default policy only when
    it would let failing clients in (an answer to "what do they need?"): what a default
    would lock out is in ``what_if``, not a finding about the traffic.
    """
    out: list[dict[str, Any]] = []
    fb = data.get("fallback_evidence") or {}
    if fb.get("text"):
        out.append({"kind": "fallback_sequence", "text": fb["text"][0].upper() + fb["text"][1:],
                    "clients": [], "counts": {k: v for k, v in fb.items() if isinstance(v, int)}})
    for w in data.get("what_if", []):
        lost, maybe = w["clients_losing_access"], w["clients_maybe_losing_access"]
        gained = w["failing_clients_gaining_access"]
        if not (lost or maybe or gained) or not (asked or gained):
            continue
        refs = [i + 1 for i, a in enumerate(data.get("actions", [])) if a.get("policy") == w["policy"]]
        rules = ", ".join(f"{n} {RULE_WORDS.get(r, r)}" for r, n in sorted(_count(e["rule"] for e in lost).items()))
        text = (f"{w['policy']} would lock out {len(lost)} real client{'s' if len(lost) != 1 else ''}"
                + (f" ({rules})" if rules else "")
                + (f", may lock out {len(maybe)} more (only a cipher or an unproven protocol says so)" if maybe else "")
                + f" and let in {len(gained)} failing client{'s' if len(gained) != 1 else ''}"
                + (f": actions {', '.join(map(str, refs))}" if refs else ""))
        out.append({"kind": "what_if", "text": text, "policy": w["policy"], "actions": refs,
                    "clients": [e["client"] for e in lost],
                    "counts": {"locks_out": len(lost), "maybe_locks_out": len(maybe), "lets_in": len(gained)}})
    return out


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out
