"""The report, computed once: the SPEC §7 dict plus the DataFrames behind it.

Renderers (``render``, ``terminal``, ``html``) only format what :func:`build_report`
computed, so every format carries the same numbers.  Counting rules where SPEC §7 leaves
room:

- a failure is a distinct ``failure_key`` of ``matches`` (rows that are one failure seen by
  several sources share it: SPEC §4) whose ``ts`` is in ``[since, until)``; sessions are
  counted in the same period;
- the headline (``totals.handshake_failures``, ``reasons``, ``unrecovered_clients``, the
  verdict) counts class ``client`` only; scanners, health checks and ignored traffic are
  counted beside it (``totals.scanner_failures``, ``health_checks``, ``coverage.ignored``);
- ``tls_sessions`` and the rate's denominator count completed sessions that are
  connections: rows with ``is_connection`` true, plus rows where it is unknown (null, or no
  such column: there a request is all we can count); sessions of scanner and ignored
  addresses are left out of it (``failure_rate_with_scanners`` puts scanners back);
- access lines without TLS fields (``plain_requests``; the ``combined`` format) answered
  with any status but 400 (nginx's answer to plain HTTP on a TLS port) or a redirect (what a
  port-80 server block answers, in the same ``combined`` log) show the client got an answer
  on the TLS port (SPEC §6): they count in the rate's denominator as requests
  (``totals.unlabelled_requests``: that format cannot tell connections apart, so the rate
  is then a lower bound) and make ``ever_succeeded`` true, but never recover a failure;
- a reason's ``clients`` counts distinct *attributable* client addresses (a load
  balancer's address is not a client);
- ``unrecovered_clients`` lists attributable clients with at least one unrecovered
  failure; ``failures``, ``reasons``, ``first_seen`` and ``last_seen`` are about those
  unrecovered failures; ``ever_succeeded`` looks at every completed session and every
  unlabelled answer in the data, any protocol, any time.  "Never got in" is
  ``ever_succeeded`` false, and only that.

Sections are built by small functions over one :class:`Context`; a new section is one
more function and one more line in :func:`build_report`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from logcorr.codes import sorted_categorical
from logcorr.facts import Scope, SessionFacts, facts_from_frames
from logcorr.reasons import FAMILY
from logcorr.report.buckets import bucket_s
from logcorr.report.sections import (
    NO_HOST,
    SCANNER_KEYS,
    SECTIONS,
    Context,
    _bool,
    _of,
    _per_client,
    _round,
    _text_col,
    _totals,
    _utc,
    first_of_each,
    iso,
    iso_many,
    kept,
)
from logcorr.report.verdict import judge

SCHEMA = "logcorr.report/2"

# Reason code → family (SPEC §5), kept once, beside the reason table.
FAMILIES = FAMILY


REASON_KEYS = ["reason", "family", "failures", "clients", "attributable", "recovered",
               "unrecovered", "recovery_rate", "median_recovery_s", "p90_recovery_s",
               "failure_rate"]
CLIENT_KEYS = ["client", "failures", "reasons", "first_seen", "last_seen", "ever_succeeded"]
@dataclass
class Report:
    """A built report: ``data`` is the SPEC §7 object, ``frames`` the tables behind it.

    ``frames``: ``reasons``, ``unrecovered_clients``, ``matches`` (in the period),
    ``timeline`` (``bucket_start``, ``reason``, ``failures``) and ``delays`` (one row per
    recovered failure: ``failure_id``, ``ts``, ``client_addr``, ``reason``, ``delay_s``).
    """

    data: dict[str, Any]
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)


def family_of(reason: str | None) -> str:
    """SPEC §5 family of a reason code; unknown codes are ``other``."""
    return FAMILIES.get(reason or "other", "other")


def _in_period(frame: pd.DataFrame, since: pd.Timestamp | None,
               until: pd.Timestamp | None) -> pd.DataFrame:
    keep = pd.Series(True, index=frame.index)
    if since is not None:
        keep &= (frame["ts"] >= since).fillna(False).astype(bool)
    if until is not None:
        keep &= (frame["ts"] < until).fillna(False).astype(bool)
    return kept(frame, keep.to_numpy(dtype=bool))


def _normalise_matches(matches: pd.DataFrame) -> pd.DataFrame:
    m = matches.copy(deep=False)  # every column changed below is a new one
    if "failure_key" not in m:
        m["failure_key"] = m["failure_id"] if "failure_id" in m else pd.Series(range(len(m)), index=m.index).astype(str)
    # text stays Arrow-backed (a million failures as Python strings cost hundreds of MiB)
    if not isinstance(m["failure_key"].dtype, pd.StringDtype):
        m["failure_key"] = _text(m["failure_key"].astype(object).astype(str))
    m["class"] = _text(_text_col(m, "class", "client")).fillna("client")
    m["evidence"] = _text(_text_col(m, "evidence"))
    m["host"] = _text(_text_col(m, "host")).fillna(NO_HOST)
    m["ts"] = _utc(m["ts"])
    m["reason"] = _text(m["reason"]).fillna("other")
    # clients as codes: the sections count, sort and look them up many times
    m["client_addr"] = sorted_categorical(_text(m["client_addr"]))
    m["attributable"] = _bool(m["attributable"], False)
    m["recovered"] = m["recovered"].astype("boolean")
    m["delay_s"] = pd.to_numeric(m["delay_s"], errors="coerce").astype("float64")
    m["family"] = m["reason"].map({r: family_of(r) for r in m["reason"].unique()})
    return m


def _text(values: pd.Series) -> pd.Series:
    return values if isinstance(values.dtype, pd.StringDtype) else values.astype(pd.StringDtype())


def _reason_rows(m: pd.DataFrame, denominator: int, judged: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cols = m[["reason", "attributable", "recovered", "delay_s", "client_addr"]]  # no group copies the rest
    for reason, g in cols.groupby("reason", sort=True):
        attributable = g[g["attributable"]]
        rec = _bool(attributable["recovered"], False)
        delays = attributable.loc[rec, "delay_s"].dropna().to_numpy(dtype=float)
        n_attr = len(attributable)
        rows.append({
            "reason": str(reason),
            "family": family_of(str(reason)),
            "failures": len(g),
            "clients": int(attributable["client_addr"].nunique()),
            "attributable": n_attr,
            "recovered": int(rec.sum()),
            "unrecovered": int(n_attr - rec.sum()),
            "recovery_rate": _round(rec.sum() / n_attr, 4) if n_attr and judged else None,
            "median_recovery_s": _round(np.median(delays), 3) if len(delays) else None,
            "p90_recovery_s": _round(np.percentile(delays, 90), 3) if len(delays) else None,
            "failure_rate": _round(len(g) / denominator, 4) if denominator else None,
        })
    rows.sort(key=lambda r: (-r["failures"], r["reason"]))
    return rows


def _client_rows(m: pd.DataFrame, succeeded: set[str]) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """``unrecovered_clients`` (most failures first, then by address) and the same as a frame."""
    unrec = m[m["attributable"] & ~_bool(m["recovered"], True)]
    if unrec.empty:
        return [], _clients_frame([])
    span, reasons = _per_client(unrec)  # sorted by client: a stable sort by count keeps that order
    span = span.iloc[np.argsort(-span["size"].to_numpy(dtype=np.int64), kind="stable")]
    names = span.index.tolist()
    got_in = [c in succeeded for c in names]
    rows = [{"client": c, "failures": size, "reasons": reasons[c], "first_seen": lo, "last_seen": hi,
             "ever_succeeded": ok}
            for c, size, lo, hi, ok in zip(names, span["size"].tolist(), iso_many(span["min"]),
                                           iso_many(span["max"]), got_in, strict=True)]
    frame = pd.DataFrame({"client": names, "failures": span["size"].to_numpy(dtype=np.int64),
                          "reasons": [reasons[c] for c in names],
                          "first_seen": _utc(span["min"]).array, "last_seen": _utc(span["max"]).array,
                          "ever_succeeded": np.array(got_in, dtype=bool)})
    return rows, frame.astype({"first_seen": "datetime64[us, UTC]", "last_seen": "datetime64[us, UTC]"})


def _timeline(m: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
    """Failures per reason per time bucket (width: :func:`logcorr.report.buckets.bucket_s`)."""
    if m.empty or start is None or end is None:
        return pd.DataFrame({"bucket_start": pd.Series([], dtype="datetime64[us, UTC]"),
                             "reason": pd.Series([], dtype=object),
                             "failures": pd.Series([], dtype="int64")})
    width = bucket_s((end - start).total_seconds())
    frame = pd.DataFrame({"bucket_start": m["ts"].dt.floor(f"{width}s"), "reason": m["reason"]})
    out = frame.groupby(["bucket_start", "reason"], sort=True).size().rename("failures")
    return out.reset_index().astype({"failures": "int64"})


def _delays(m: pd.DataFrame) -> pd.DataFrame:
    rec = m[_bool(m["recovered"], False) & m["delay_s"].notna().to_numpy()]
    return pd.DataFrame({"failure_id": rec["failure_id"].astype(object).to_numpy(),
                         "ts": rec["ts"].array, "client_addr": rec["client_addr"].to_numpy(),
                         "reason": rec["reason"].to_numpy(),
                         "delay_s": rec["delay_s"].to_numpy(dtype=float)})


def _period(m: pd.DataFrame, facts: SessionFacts, since: pd.Timestamp | None,
            until: pd.Timestamp | None) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """The report's period: ``since``/``until`` when given, else the first and last failure or session."""
    hosts = facts["hosts"]
    lows = pd.concat([m["ts"], hosts["first_ts"]]).dropna()
    highs = pd.concat([m["ts"], hosts["last_ts"]]).dropna()
    start = since if since is not None else (lows.min() if len(lows) else None)
    end = until if until is not None else (highs.max() if len(highs) else None)
    return start, end


def _ts_or_none(value: Any) -> pd.Timestamp | None:
    if value is None:
        return None
    t = pd.Timestamp(value)
    return (t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")).as_unit("us")


def _finding(item: str | Mapping[str, Any]) -> dict[str, Any]:
    """A finding object (SPEC §7); a bare sentence from an older producer becomes ``kind`` ``note``."""
    if isinstance(item, Mapping):
        return {"kind": str(item.get("kind", "note")), "text": str(item.get("text", "")),
                "clients": list(item.get("clients") or []), "counts": dict(item.get("counts") or {}),
                **{k: v for k, v in item.items() if k not in ("kind", "text", "clients", "counts")}}
    return {"kind": "note", "text": str(item), "clients": [], "counts": {}}


def report_scope(matches: pd.DataFrame, *, since: Any = None, until: Any = None,
                 ignored: Collection[str] = (), excluded: Collection[str] = ()) -> Scope:
    """The :class:`logcorr.facts.Scope` of the report of ``matches`` in ``[since, until)``.

    ``ignored``: the session addresses in the ``--ignore`` blocks; ``excluded``: the
    addresses that are not real clients (:func:`logcorr.report.policy_sections.excluded_addresses`).
    """
    t0, t1 = _ts_or_none(since), _ts_or_none(until)
    fails = first_of_each(_in_period(_normalise_matches(matches), t0, t1))
    scanners = _of(fails, "scanner")["client_addr"].dropna().astype(str).tolist()
    wanted = matches["client_addr"].dropna().astype(str).unique().tolist() if len(matches) else []
    return Scope(since=t0, until=t1, ignored=frozenset(ignored), scanners=frozenset(scanners),
                 excluded=frozenset(excluded), wanted=frozenset(wanted))


def build_report(failures: pd.DataFrame, sessions: pd.DataFrame | None, matches: pd.DataFrame, *,
                 window_s: int, min_protocol: str, since: Any = None, until: Any = None,
                 lb: dict[str, Any] | None = None,
                 extra_findings: Iterable[str | Mapping[str, Any]] = (),
                 plain: pd.DataFrame | None = None, rejects: int = 0,
                 ignore_cidrs: Sequence[Any] = (), facts: SessionFacts | None = None) -> Report:
    """The report of ``matches`` (from :func:`logcorr.correlate.correlate`) in ``[since, until)``.

    ``facts``: the session facts of :func:`report_scope` (:mod:`logcorr.facts`); without
    them they are computed by the pandas reference from ``sessions`` (every session of the
    data: ``ts``, ``client_addr``, and ``is_connection``, ``source``, ``status``, ``host``
    when known) and ``plain`` (the ``plain_requests`` table), with ``ignore_cidrs``
    (``--ignore`` blocks) left out.  ``rejects``: the number of rejected input lines.
    Every failure count comes from ``matches``; ``failures`` (the raw table) is accepted so
    that callers pass what they have, and is not counted again.  ``lb`` is the
    load-balancer section (``logcorr.report.lb``), passed through; ``extra_findings``
    (objects, or sentences) are appended to the verdict's findings.
    """
    t0, t1 = _ts_or_none(since), _ts_or_none(until)
    m = _in_period(_normalise_matches(matches), t0, t1)
    fails = first_of_each(m)
    client = _of(fails, "client")
    if facts is None:
        facts = facts_from_frames(sessions, plain, report_scope(
            matches, since=t0, until=t1, ignored=_ignored(sessions, plain, ignore_cidrs)))
    succeeded = facts.succeeded
    start, end = _period(m, facts, t0, t1)
    denominator = len(client) + int(facts["hosts"]["connections"].sum()) + facts.totals["plain_answers_kept"]
    ctx = Context(m=m, fails=fails, client=client, facts=facts, succeeded=succeeded, denominator=denominator,
                  rejects=rejects, window_s=int(window_s), min_protocol=min_protocol, start=start, end=end)
    judged = facts.totals["ever_rows"] > 0
    totals = _totals(ctx)
    reasons = _reason_rows(client, ctx.denominator, judged)
    clients, clients_frame = _client_rows(client, succeeded)
    sections = {key: build(ctx) for key, build in SECTIONS}
    verdict = judge(client, succeeded, window_s=window_s, min_protocol=min_protocol,
                    judged=judged, failure_rate=totals["failure_rate"], totals=totals,
                    coverage=sections["coverage"], scanners=sections["scanners"],
                    health_checks=sections["health_checks"])
    verdict["findings"] = [*verdict["findings"], *(_finding(f) for f in extra_findings)]
    data: dict[str, Any] = {
        "schema": SCHEMA,
        "window_seconds": int(window_s),
        "min_protocol": min_protocol,
        "period": {"start": iso(start), "end": iso(end)},
        "totals": totals,
        "reasons": reasons,
        "unrecovered_clients": clients,
        "lb": lb,
        **sections,
        "verdict": verdict,
        # ours: the width of the "failures over time" bars (logcorr.report.buckets)
        "timeline_bucket_s": (bucket_s((end - start).total_seconds())
                              if start is not None and end is not None else None),
    }
    scanners = sections["scanners"]
    frames = {
        "reasons": pd.DataFrame(reasons, columns=REASON_KEYS),
        "unrecovered_clients": clients_frame,
        "scanners": pd.DataFrame(scanners, columns=SCANNER_KEYS),
        "matches": m.drop(columns=["family"]).reset_index(drop=True),
        "timeline": _timeline(client, start, end),
        "delays": _delays(client),
    }
    return Report(data=data, frames=frames)


def _clients_frame(clients: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(clients, columns=CLIENT_KEYS)
    for col in ("first_seen", "last_seen"):
        frame[col] = pd.to_datetime(frame[col], utc=True, format="ISO8601").astype("datetime64[us, UTC]")
    return frame


def _ignored(sessions: pd.DataFrame | None, plain: pd.DataFrame | None, cidrs: Sequence[Any]) -> set[str]:
    """The addresses of ``sessions`` and ``plain`` inside the ``--ignore`` blocks."""
    from logcorr.classify import in_networks, networks

    nets = networks(list(cidrs))
    if not nets:
        return set()
    addrs = pd.Series(pd.unique(pd.concat([f["client_addr"].dropna().astype(str) for f in (sessions, plain)
                                           if f is not None and "client_addr" in f] or [pd.Series([], dtype=object)])),
                      dtype=object)
    return set(addrs[in_networks(addrs, nets).to_numpy(dtype=bool)])
