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

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from logcorr.reasons import FAMILY
from logcorr.report.verdict import judge

SCHEMA = "logcorr.report/2"

# Reason code → family (SPEC §5), kept once, beside the reason table.
FAMILIES = FAMILY

# Timeline bucket widths, smallest first; the first that gives at most 60 buckets wins.
TIMELINE_BUCKETS_S = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)
_MAX_BUCKETS = 60

REASON_KEYS = ["reason", "family", "failures", "clients", "attributable", "recovered",
               "unrecovered", "recovery_rate", "median_recovery_s", "p90_recovery_s",
               "failure_rate"]
CLIENT_KEYS = ["client", "failures", "reasons", "first_seen", "last_seen", "ever_succeeded"]
SCANNER_KEYS = ["client", "failures", "reasons", "first_seen", "last_seen", "evidence", "tls_sessions"]

UNLABELLED_NOT_ANSWERS = frozenset({400, 301, 302, 307, 308})
"""Statuses of access lines without TLS fields that are not taken as an answer on the TLS
port: 400 is nginx's answer to plain HTTP sent there (error 497 logged as 400), and a
redirect is what a port-80 server block sharing the ``combined`` log answers."""
COVERAGE_BUCKET_S = 3600
"""Error-log failures in a UTC hour with no access-log line of the same host make a period
"without access log" (hours are merged into runs)."""
NO_HOST = "(no host recorded)"
"""Host name for rows that carry none (data ingested before ``host`` was stored)."""


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


def _connections(sessions: pd.DataFrame) -> int:
    """Sessions that are connections: ``is_connection`` true or unknown (SPEC §7)."""
    if "is_connection" not in sessions:
        return len(sessions)
    return int(_bool(sessions["is_connection"], True).sum())


def _text_col(frame: pd.DataFrame, name: str, default: Any = None) -> pd.Series:
    if name in frame:
        return frame[name].astype(object)
    return pd.Series([default] * len(frame), index=frame.index, dtype=object)


def _normalise_matches(matches: pd.DataFrame) -> pd.DataFrame:
    m = matches.copy()
    if "failure_key" not in m:
        m["failure_key"] = m["failure_id"] if "failure_id" in m else pd.Series(range(len(m)), index=m.index).astype(str)
    m["failure_key"] = m["failure_key"].astype(object).astype(str)
    m["class"] = _text_col(m, "class", "client").fillna("client")
    m["evidence"] = _text_col(m, "evidence")
    m["host"] = _text_col(m, "host").fillna(NO_HOST)
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


def _per_client(rows: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """Failures, first and last time per client, and ``{reason: n}`` (most frequent first)."""
    client = rows["client_addr"].astype(str)
    span = rows.groupby(client, sort=True)["ts"].agg(["size", "min", "max"])
    pairs = pd.DataFrame({"client": client, "reason": rows["reason"].astype(str)})
    counts = pairs.value_counts().reset_index(name="n")
    counts = counts.sort_values(["client", "n", "reason"], ascending=[True, False, True])
    reasons: dict[str, dict[str, int]] = {}
    for c, r, n in zip(counts["client"], counts["reason"], counts["n"], strict=True):
        reasons.setdefault(c, {})[r] = int(n)
    return span, reasons


def _client_rows(m: pd.DataFrame, succeeded: set[str]) -> list[dict[str, Any]]:
    unrec = m[m["attributable"] & ~_bool(m["recovered"], True)]
    if unrec.empty:
        return []
    span, reasons = _per_client(unrec)
    rows = [{"client": c, "failures": int(size), "reasons": reasons[c], "first_seen": iso(lo),
             "last_seen": iso(hi), "ever_succeeded": c in succeeded}
            for c, size, lo, hi in zip(span.index, span["size"], span["min"], span["max"], strict=True)]
    rows.sort(key=lambda r: (-r["failures"], r["client"]))
    return rows


@dataclass
class Context:
    """What every section is computed from (all in the period unless named ``all_``)."""

    m: pd.DataFrame  # matches rows in the period (every stored row)
    fails: pd.DataFrame  # one row per failure (distinct failure_key)
    client: pd.DataFrame  # failures of class client
    sessions: pd.DataFrame  # completed sessions, scanners and ignored addresses left out
    all_sessions: pd.DataFrame  # completed sessions of the whole data
    raw_sessions: pd.DataFrame  # every session row in the period (for coverage)
    plain: pd.DataFrame  # access lines without TLS fields in the period
    answers: pd.DataFrame  # those that show an answer on the TLS port (scanners/ignored out)
    succeeded: set[str]
    denominator: int
    rejects: int
    window_s: int
    min_protocol: str
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    extras: dict[str, Any] = field(default_factory=dict)


def _of(frame: pd.DataFrame, cls: str) -> pd.DataFrame:
    return frame[(frame["class"] == cls).to_numpy(dtype=bool)]


def _totals(ctx: Context) -> dict[str, Any]:
    c = ctx.client
    n_fail = len(c)
    n_conn = _connections(ctx.sessions)
    scanners = _of(ctx.fails, "scanner")
    scanner_addrs = set(scanners["client_addr"].dropna().astype(str))
    s_scan = ctx.raw_sessions[ctx.raw_sessions["client_addr"].astype(str).isin(scanner_addrs).to_numpy()]
    recovered = int(_bool(c["recovered"], False).sum())
    attributable = int(c["attributable"].sum())
    with_scanners = ctx.denominator + len(scanners) + _connections(s_scan)
    return {"handshake_failures": n_fail, "tls_sessions": n_conn,
            "failure_rate": _round(n_fail / ctx.denominator, 4) if ctx.denominator else None,
            "tls_requests": len(ctx.sessions), "unlabelled_requests": len(ctx.answers),
            "attributable": attributable, "unattributable": n_fail - attributable,
            "recovered": recovered, "unrecovered": attributable - recovered,
            "scanner_failures": len(scanners),
            "failure_rate_with_scanners": (_round((n_fail + len(scanners)) / with_scanners, 4)
                                           if with_scanners else None),
            "health_checks": len(_of(ctx.fails, "health_check")),
            "ignored_failures": len(_of(ctx.fails, "ignored"))}


def _coverage(ctx: Context) -> dict[str, Any]:
    access = ctx.raw_sessions[_text_col(ctx.raw_sessions, "source").fillna("").astype(str).to_numpy() != "pcap"]
    un = ctx.client[~ctx.client["attributable"].to_numpy(dtype=bool)]
    return {"access_lines": len(access) + len(ctx.plain),
            "access_lines_without_tls": len(ctx.plain),
            # of those, the lines that show an answer on the TLS port (not 400, not a redirect)
            "access_lines_without_tls_answered": len(_answers(ctx.plain)),
            "rejects": int(ctx.rejects),
            "error_log_periods_without_access_log": _uncovered(ctx.m, access, ctx.plain),
            "unattributable_failures": len(un),
            "ignored": len(_of(ctx.fails, "ignored"))}


def _uncovered(m: pd.DataFrame, access: pd.DataFrame, plain: pd.DataFrame) -> list[dict[str, Any]]:
    """Runs of UTC hours with error-log failures and no access-log line of the same host."""
    err = m[_text_col(m, "source").fillna("").astype(str).str.startswith("nginx_error").to_numpy()]
    if err.empty:
        return []
    width = pd.Timedelta(seconds=COVERAGE_BUCKET_S)
    lines = pd.concat([pd.DataFrame({"host": _text_col(f, "host").fillna(NO_HOST).to_numpy(),
                                     "ts": _utc(f["ts"]).to_numpy()}) for f in (access, plain) if len(f)]
                      or [pd.DataFrame({"host": [], "ts": pd.Series([], dtype="datetime64[us, UTC]")})])
    seen = set(zip(lines["host"].astype(str), _utc(lines["ts"]).dt.floor(width), strict=True))
    hours = pd.DataFrame({"host": err["host"].astype(str).to_numpy(), "hour": err["ts"].dt.floor(width).to_numpy(),
                          "key": err["failure_key"].to_numpy()})
    hours = hours.groupby(["host", "hour"], sort=True)["key"].nunique().reset_index()
    out: list[dict[str, Any]] = []
    for host, g in hours.groupby("host", sort=True):
        run: dict[str, Any] | None = None
        for hour, n in zip(g["hour"], g["key"], strict=True):
            if (str(host), pd.Timestamp(hour)) in seen:
                run = None
                continue
            if run is not None and pd.Timestamp(hour) == run["_end"]:
                run["_end"] = pd.Timestamp(hour) + width
                run["failures"] += int(n)
                continue
            run = {"host": str(host), "_start": pd.Timestamp(hour), "_end": pd.Timestamp(hour) + width,
                   "failures": int(n)}
            out.append(run)
    return [{"host": r["host"], "start": iso(r["_start"]), "end": iso(r["_end"]), "failures": r["failures"]}
            for r in out]


def _scanners(ctx: Context) -> list[dict[str, Any]]:
    sc = _of(ctx.fails, "scanner")
    if sc.empty:
        return []
    span, reasons = _per_client(sc)
    why = sc.assign(_c=sc["client_addr"].astype(str)).groupby("_c")["evidence"].first()
    sessions = ctx.raw_sessions["client_addr"].astype(str).value_counts()
    rows = [{"client": c, "failures": int(size), "reasons": reasons[c], "first_seen": iso(lo),
             "last_seen": iso(hi), "evidence": None if pd.isna(why.get(c)) else str(why.get(c)),
             "tls_sessions": int(sessions.get(c, 0))}
            for c, size, lo, hi in zip(span.index, span["size"], span["min"], span["max"], strict=True)]
    rows.sort(key=lambda r: (-r["failures"], r["client"]))
    return rows


def _health_checks(ctx: Context) -> dict[str, Any]:
    hc = _of(ctx.fails, "health_check")
    peers = hc["client_addr"].astype(object).fillna("-").astype(str).value_counts()
    by_lb = {str(k): int(v) for k, v in sorted(peers.items(), key=lambda kv: (-kv[1], kv[0]))}
    return {"count": len(hc), "by_lb": by_lb}


def _hosts(ctx: Context) -> list[dict[str, Any]]:
    fails = ctx.fails.assign(_h=ctx.fails["host"].astype(str))
    sess = _text_col(ctx.sessions, "host").fillna(NO_HOST).astype(str)
    names = sorted(set(fails["_h"]) | set(sess))
    out = []
    for h in names:
        mine = fails[(fails["_h"] == h).to_numpy()]
        out.append({"host": h, "handshake_failures": len(_of(mine, "client")),
                    "tls_sessions": _connections(ctx.sessions[(sess == h).to_numpy()]),
                    "scanner_failures": len(_of(mine, "scanner")),
                    "health_checks": len(_of(mine, "health_check"))})
    return out


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


def _period(m: pd.DataFrame, s: pd.DataFrame, since: pd.Timestamp | None,
            until: pd.Timestamp | None) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    stamps = pd.concat([m["ts"], s["ts"]]).dropna() if len(m) + len(s) else pd.Series([], dtype=object)
    start = since if since is not None else (stamps.min() if len(stamps) else None)
    end = until if until is not None else (stamps.max() if len(stamps) else None)
    return start, end


def _ts_or_none(value: Any) -> pd.Timestamp | None:
    if value is None:
        return None
    t = pd.Timestamp(value)
    return (t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")).as_unit("us")


def _answers(plain: pd.DataFrame) -> pd.DataFrame:
    """Access lines without TLS fields that show an answer on the TLS port (not 400, not a redirect)."""
    if plain.empty or "status" not in plain:
        return plain
    status = pd.to_numeric(plain["status"], errors="coerce")
    return plain[~status.isin(UNLABELLED_NOT_ANSWERS).to_numpy(dtype=bool)]


def _frame_of(frame: pd.DataFrame | None) -> pd.DataFrame:
    if frame is None:
        return pd.DataFrame({"ts": pd.Series([], dtype="datetime64[us, UTC]"),
                             "client_addr": pd.Series([], dtype=object)})
    return frame.assign(ts=_utc(frame["ts"]), client_addr=frame["client_addr"].astype(object))


def _finding(item: str | Mapping[str, Any]) -> dict[str, Any]:
    """A finding object (SPEC §7); a bare sentence from an older producer becomes ``kind`` ``note``."""
    if isinstance(item, Mapping):
        return {"kind": str(item.get("kind", "note")), "text": str(item.get("text", "")),
                "clients": list(item.get("clients") or []), "counts": dict(item.get("counts") or {}),
                **{k: v for k, v in item.items() if k not in ("kind", "text", "clients", "counts")}}
    return {"kind": "note", "text": str(item), "clients": [], "counts": {}}


def build_report(failures: pd.DataFrame, sessions: pd.DataFrame, matches: pd.DataFrame, *,
                 window_s: int, min_protocol: str, since: Any = None, until: Any = None,
                 lb: dict[str, Any] | None = None,
                 extra_findings: Iterable[str | Mapping[str, Any]] = (),
                 plain: pd.DataFrame | None = None, rejects: int = 0,
                 ignore_cidrs: Sequence[str] = ()) -> Report:
    """The report of ``matches`` (from :func:`logcorr.correlate.correlate`) in ``[since, until)``.

    ``sessions`` needs ``ts`` and ``client_addr`` (``is_connection``, ``source``, ``status``,
    ``host`` when known): every session of the data, for the rate and for ``ever_succeeded``.
    ``plain``: the ``plain_requests`` table (access lines without TLS fields); ``rejects``:
    the number of rejected input lines; ``ignore_cidrs``: ``--ignore`` blocks (their
    sessions are left out too).  Every count comes from ``matches``; ``failures`` (the raw
    table) is accepted so that callers pass what they have, and is not counted again.
    ``lb`` is the load-balancer section (``logcorr.report.lb``), passed through;
    ``extra_findings`` (objects, or sentences) are appended to the verdict's findings.
    """
    from logcorr.classify import in_networks, networks
    from logcorr.correlate import completed_sessions

    t0, t1 = _ts_or_none(since), _ts_or_none(until)
    m = _in_period(_normalise_matches(matches), t0, t1)
    fails = m.drop_duplicates("failure_key", keep="first")
    client = _of(fails, "client")
    raw_all = _frame_of(sessions)
    plain_all = _frame_of(plain)
    nets = networks(list(ignore_cidrs))
    away = set(_of(fails, "scanner")["client_addr"].dropna().astype(str))

    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[~frame["client_addr"].astype(str).isin(away).to_numpy()]
        return out[~in_networks(out["client_addr"], nets).to_numpy(dtype=bool)]

    raw_all = raw_all[~in_networks(raw_all["client_addr"], nets).to_numpy(dtype=bool)]
    plain_all = plain_all[~in_networks(plain_all["client_addr"], nets).to_numpy(dtype=bool)]
    done_all = completed_sessions(raw_all)
    s = keep(_in_period(done_all, t0, t1))
    plain_in = _in_period(plain_all, t0, t1)
    answers = keep(_answers(plain_in))
    succeeded = (set(done_all["client_addr"].dropna().astype(str))
                 | set(_answers(plain_all)["client_addr"].dropna().astype(str)))
    start, end = _period(m, s, t0, t1)
    ctx = Context(m=m, fails=fails, client=client, sessions=s, all_sessions=done_all,
                  raw_sessions=_in_period(raw_all, t0, t1), plain=plain_in, answers=answers,
                  succeeded=succeeded, denominator=len(client) + _connections(s) + len(answers),
                  rejects=rejects, window_s=int(window_s), min_protocol=min_protocol,
                  start=start, end=end)
    judged = len(done_all) + len(_answers(plain_all)) > 0
    totals = _totals(ctx)
    reasons = _reason_rows(client, ctx.denominator, judged)
    clients = _client_rows(client, succeeded)
    coverage = _coverage(ctx)
    scanners = _scanners(ctx)
    health = _health_checks(ctx)
    verdict = judge(client, succeeded, window_s=window_s, min_protocol=min_protocol,
                    judged=judged, failure_rate=totals["failure_rate"], totals=totals,
                    coverage=coverage, scanners=scanners, health_checks=health)
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
        "coverage": coverage,
        "scanners": scanners,
        "health_checks": health,
        "hosts": _hosts(ctx),
        "verdict": verdict,
    }
    frames = {
        "reasons": pd.DataFrame(reasons, columns=REASON_KEYS),
        "unrecovered_clients": _clients_frame(clients),
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
