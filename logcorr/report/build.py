"""The report, computed once: the SPEC §7 dict plus the DataFrames behind it.

Renderers (``render``, ``terminal``, ``html``) only format what :func:`build_report`
computed, so every format carries the same numbers.  Counting rules where SPEC §7 leaves
room:

- failures are the rows of ``matches`` (client side, copies merged: SPEC §6) whose ``ts``
  is in ``[since, until)``; sessions are counted in the same period;
- ``tls_sessions`` and the rate's denominator count sessions that are connections: rows
  with ``is_connection`` true, plus rows where it is unknown (null, or no such column:
  there a request is all we can count);
- a reason's ``clients`` counts distinct *attributable* client addresses (a load
  balancer's address is not a client);
- ``unrecovered_clients`` lists attributable clients with at least one unrecovered
  failure; ``failures``, ``reasons``, ``first_seen`` and ``last_seen`` are about those
  unrecovered failures; ``ever_succeeded`` looks at every session in the data, any protocol.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from logcorr.reasons import FAMILY
from logcorr.report.sessionsummary import SessionSummary, summarise_sessions
from logcorr.report.verdict import judge

SCHEMA = "logcorr.report/1"

# Reason code → family (SPEC §5), kept once, beside the reason table.
FAMILIES = FAMILY

# Timeline bucket widths, smallest first; the first that gives at most 60 buckets wins.
TIMELINE_BUCKETS_S = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)
_MAX_BUCKETS = 60

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


def iso(ts: Any) -> str | None:
    """UTC ``2026-11-26T17:00:00Z`` (fraction kept when there is one); None for NaT/None."""
    if ts is None or pd.isna(ts):
        return None
    t = pd.Timestamp(ts)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        text += f".{t.microsecond:06d}".rstrip("0")
    return str(text) + "Z"


def _round(x: Any, digits: int) -> float | None:
    if x is None or pd.isna(x) or not math.isfinite(float(x)):
        return None
    return round(float(x), digits)


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).astype("datetime64[us, UTC]")


def _in_period(frame: pd.DataFrame, since: pd.Timestamp | None,
               until: pd.Timestamp | None) -> pd.DataFrame:
    keep = pd.Series(True, index=frame.index)
    if since is not None:
        keep &= (frame["ts"] >= since).fillna(False).astype(bool)
    if until is not None:
        keep &= (frame["ts"] < until).fillna(False).astype(bool)
    return frame[keep.to_numpy(dtype=bool)]


def _bool(values: pd.Series, missing: bool) -> np.ndarray:
    out: np.ndarray = values.astype("boolean").fillna(missing).to_numpy(dtype=bool)
    return out


def _normalise_matches(matches: pd.DataFrame) -> pd.DataFrame:
    m = matches.copy()
    m["ts"] = _utc(m["ts"])
    m["reason"] = m["reason"].astype(object).fillna("other")
    m["client_addr"] = m["client_addr"].astype(object)
    m["attributable"] = _bool(m["attributable"], False)
    m["recovered"] = m["recovered"].astype("boolean")
    m["delay_s"] = pd.to_numeric(m["delay_s"], errors="coerce").astype("float64")
    m["family"] = m["reason"].map(family_of)
    return m


def _reason_rows(m: pd.DataFrame, denominator: int, judged: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for reason, g in m.groupby("reason", sort=True):
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


def _client_rows(m: pd.DataFrame, succeeded: set[str]) -> list[dict[str, Any]]:
    unrec = m[m["attributable"] & ~_bool(m["recovered"], True)]
    if unrec.empty:
        return []
    client = unrec["client_addr"].astype(str)
    span = unrec.groupby(client, sort=True)["ts"].agg(["size", "min", "max"])
    # (client, reason) counts, most frequent reason first within each client
    pairs = pd.DataFrame({"client": client, "reason": unrec["reason"].astype(str)})
    counts = pairs.value_counts().reset_index(name="n")
    counts = counts.sort_values(["client", "n", "reason"], ascending=[True, False, True])
    reasons: dict[str, dict[str, int]] = {}
    for c, r, n in zip(counts["client"], counts["reason"], counts["n"], strict=True):
        reasons.setdefault(c, {})[r] = int(n)
    rows = [{"client": c, "failures": int(size), "reasons": reasons[c], "first_seen": iso(lo),
             "last_seen": iso(hi), "ever_succeeded": c in succeeded}
            for c, size, lo, hi in zip(span.index, span["size"], span["min"], span["max"], strict=True)]
    rows.sort(key=lambda r: (-r["failures"], r["client"]))
    return rows


def _timeline(m: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
    """Failures per reason per time bucket (bucket width: the first of TIMELINE_BUCKETS_S
    that gives at most 60 buckets over the period)."""
    if m.empty or start is None or end is None:
        return pd.DataFrame({"bucket_start": pd.Series([], dtype="datetime64[us, UTC]"),
                             "reason": pd.Series([], dtype=object),
                             "failures": pd.Series([], dtype="int64")})
    span = (end - start).total_seconds()
    width = next((b for b in TIMELINE_BUCKETS_S if span / b <= _MAX_BUCKETS), TIMELINE_BUCKETS_S[-1])
    frame = pd.DataFrame({"bucket_start": m["ts"].dt.floor(f"{width}s"), "reason": m["reason"]})
    out = frame.groupby(["bucket_start", "reason"], sort=True).size().rename("failures")
    return out.reset_index().astype({"failures": "int64"})


def _delays(m: pd.DataFrame) -> pd.DataFrame:
    rec = m[_bool(m["recovered"], False) & m["delay_s"].notna().to_numpy()]
    return pd.DataFrame({"failure_id": rec["failure_id"].astype(object).to_numpy(),
                         "ts": rec["ts"].to_numpy(), "client_addr": rec["client_addr"].to_numpy(),
                         "reason": rec["reason"].to_numpy(),
                         "delay_s": rec["delay_s"].to_numpy(dtype=float)})


def _period(m: pd.DataFrame, s: SessionSummary, since: pd.Timestamp | None,
            until: pd.Timestamp | None) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    m_ts = m["ts"].dropna()
    firsts = [t for t in (m_ts.min() if len(m_ts) else None, s.first) if t is not None]
    lasts = [t for t in (m_ts.max() if len(m_ts) else None, s.last) if t is not None]
    start = since if since is not None else (min(firsts) if firsts else None)
    end = until if until is not None else (max(lasts) if lasts else None)
    return start, end


def _ts_or_none(value: Any) -> pd.Timestamp | None:
    if value is None:
        return None
    t = pd.Timestamp(value)
    return (t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")).as_unit("us")


def build_report(failures: pd.DataFrame, sessions: pd.DataFrame | SessionSummary, matches: pd.DataFrame, *,
                 window_s: int, min_protocol: str, since: Any = None, until: Any = None,
                 lb: dict[str, Any] | None = None, extra_findings: Iterable[str] = ()) -> Report:
    """The report of ``matches`` (from :func:`logcorr.correlate.correlate`) in ``[since, until)``.

    ``sessions`` needs ``ts`` and ``client_addr`` (``is_connection`` when known): every
    session of the data, for the rate and for ``ever_succeeded``; or the
    :class:`SessionSummary` of them that an engine computed where the rows are.  Every count comes from
    ``matches`` (copies merged, upstream rows dropped); ``failures`` (the raw table) is
    accepted so that callers pass what they have, and is not counted again.
    ``lb`` is the load-balancer section (``logcorr.report.lb``), passed through;
    ``extra_findings`` are appended to the verdict's findings.
    """
    t0, t1 = _ts_or_none(since), _ts_or_none(until)
    m = _in_period(_normalise_matches(matches), t0, t1)
    ss = sessions if isinstance(sessions, SessionSummary) else summarise_sessions(sessions, t0, t1)
    n_fail = len(m)
    n_conn = ss.connections
    denominator = n_fail + n_conn
    judged = ss.any_sessions
    succeeded = set(ss.succeeded)
    reasons = _reason_rows(m, denominator, judged)
    clients = _client_rows(m, succeeded)
    start, end = _period(m, ss, t0, t1)
    rate = n_fail / denominator if denominator else None
    recovered = int(_bool(m["recovered"], False).sum())
    attributable = int(m["attributable"].sum())
    totals = {"handshake_failures": n_fail, "tls_sessions": n_conn,
              "failure_rate": _round(rate, 4), "tls_requests": ss.requests,
              "attributable": attributable, "unattributable": n_fail - attributable,
              "recovered": recovered, "unrecovered": attributable - recovered}
    verdict = judge(m, succeeded, window_s=window_s, min_protocol=min_protocol,
                    judged=judged, failure_rate=rate)
    verdict["findings"] = [*verdict["findings"], *extra_findings]
    data: dict[str, Any] = {
        "schema": SCHEMA,
        "window_seconds": int(window_s),
        "min_protocol": min_protocol,
        "period": {"start": iso(start), "end": iso(end)},
        "totals": totals,
        "reasons": reasons,
        "unrecovered_clients": clients,
        "lb": lb,
        "verdict": verdict,
    }
    frames = {
        "reasons": pd.DataFrame(reasons, columns=REASON_KEYS),
        "unrecovered_clients": _clients_frame(clients),
        "matches": m.drop(columns=["family"]).reset_index(drop=True),
        "timeline": _timeline(m, start, end),
        "delays": _delays(m),
    }
    return Report(data=data, frames=frames)


def _clients_frame(clients: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(clients, columns=CLIENT_KEYS)
    for col in ("first_seen", "last_seen"):
        frame[col] = pd.to_datetime(frame[col], utc=True, format="ISO8601").astype("datetime64[us, UTC]")
    return frame
