"""The report's sections after ``lb`` (SPEC §7): coverage, scanners, health checks, hosts.

Each section is a function of one :class:`Context` (what :func:`logcorr.report.build.build_report`
computed once: the failures by class, the sessions, the unlabelled access lines), listed
in :data:`SECTIONS`; the counting rules are in :mod:`logcorr.report.build`'s docstring.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from logcorr.codes import lexorder, sorted_codes
from logcorr.facts import NOT_ANSWERS, SessionFacts, hours_since_epoch
from logcorr.timewindow import iso

SCANNER_KEYS = ["client", "failures", "reasons", "first_seen", "last_seen", "evidence", "tls_sessions"]

UNLABELLED_NOT_ANSWERS = frozenset(NOT_ANSWERS)
"""Statuses of access lines without TLS fields that are not taken as an answer on the TLS
port: 400 is nginx's answer to plain HTTP sent there (error 497 logged as 400), and a
redirect is what a port-80 server block sharing the ``combined`` log answers."""
COVERAGE_BUCKET_S = 3600
"""Error-log failures in a UTC hour with no access-log line of the same host make a period
"without access log" (hours are merged into runs)."""
NO_HOST = "(no host recorded)"
"""Host name for rows that carry none (data ingested before ``host`` was stored)."""



def _round(x: Any, digits: int) -> float | None:
    if x is None or pd.isna(x) or not math.isfinite(float(x)):
        return None
    return round(float(x), digits)


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).astype("datetime64[us, UTC]")



def _bool(values: pd.Series, missing: bool) -> np.ndarray:
    out: np.ndarray = values.astype("boolean").fillna(missing).to_numpy(dtype=bool)
    return out


def _text_col(frame: pd.DataFrame, name: str, default: Any = None) -> pd.Series:
    if name in frame:  # text as it is (no Python string per row), anything else as object
        return frame[name] if isinstance(frame[name].dtype, pd.StringDtype) else frame[name].astype(object)
    return pd.Series([default] * len(frame), index=frame.index, dtype=object)



def iso_many(ts: pd.Series) -> list[str | None]:
    """:func:`logcorr.timewindow.iso` of every time of ``ts``, from numpy conversions (no
    Timestamp object per value; whole seconds, the usual case, need no trimming)."""
    us = _utc(ts).dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    # each distinct time written once (many clients share a second): one string object each
    distinct, at = np.unique(us.view(np.int64), return_inverse=True)
    values = distinct.view("datetime64[us]")
    texts: list[str | None] = [t + "Z" for t in np.datetime_as_string(values, unit="s").tolist()]
    missing = np.isnat(values)
    for i in np.flatnonzero(missing | (distinct % 1_000_000 != 0)).tolist():
        texts[i] = None if missing[i] else str(np.datetime_as_string(values[i], unit="us")).rstrip("0") + "Z"
    return [texts[i] for i in at.reshape(-1).tolist()]


def _per_client(rows: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """Failures, first and last time per client (sorted), and ``{reason: n}`` (most
    frequent first, then by reason); rows without a client are left out.

    One pass of integer codes: a million failures from hundreds of thousands of clients.
    """
    client, names = sorted_codes(rows["client_addr"])
    reason, reasons_sorted = sorted_codes(rows["reason"].astype(str))
    mine = client >= 0
    span = (pd.DataFrame({"c": client[mine], "ts": rows["ts"].array[mine]})
            .groupby("c", sort=True)["ts"].agg(["size", "min", "max"]))
    span.index = pd.Index(names.take(pa.array(span.index.to_numpy())).to_pylist(), dtype=object)
    n_reasons = max(len(reasons_sorted), 1)
    paired = mine & (reason >= 0)
    pairs, counts = np.unique(client[paired] * n_reasons + reason[paired], return_counts=True)
    pair_client, pair_reason = pairs // n_reasons, pairs % n_reasons
    order = lexorder([pair_client, -counts, pair_reason])
    client_names, reason_names = names.to_pylist(), reasons_sorted.to_pylist()
    out: dict[str, dict[str, int]] = {}
    for c, r, n in zip(pair_client[order].tolist(), pair_reason[order].tolist(), counts[order].tolist(),
                       strict=True):
        out.setdefault(client_names[c], {})[reason_names[r]] = n
    return span, out


@dataclass
class Context:
    """What every section is computed from (all in the period)."""

    m: pd.DataFrame  # matches rows in the period (every stored row)
    fails: pd.DataFrame  # one row per failure (distinct failure_key)
    client: pd.DataFrame  # failures of class client
    facts: SessionFacts  # the session facts of the report's scope (logcorr.facts)
    succeeded: set[str]
    denominator: int
    rejects: int
    window_s: int
    min_protocol: str
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    extras: dict[str, Any] = field(default_factory=dict)


def _of(frame: pd.DataFrame, cls: str) -> pd.DataFrame:
    return kept(frame, (frame["class"] == cls).to_numpy(dtype=bool))


def kept(frame: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """``frame[keep]``, or ``frame`` itself when every row is kept (a million failures of
    one class: no copy of every column)."""
    return frame if keep.all() else frame[keep]


def first_of_each(m: pd.DataFrame) -> pd.DataFrame:
    """One row per failure (the first of each ``failure_key``): ``m`` itself when no
    failure was seen twice."""
    return kept(m, ~m.duplicated("failure_key", keep="first").to_numpy(dtype=bool))


def _totals(ctx: Context) -> dict[str, Any]:
    c = ctx.client
    n_fail = len(c)
    hosts, totals = ctx.facts["hosts"], ctx.facts.totals
    n_conn = int(hosts["connections"].sum())
    scanners = _of(ctx.fails, "scanner")
    recovered = int(_bool(c["recovered"], False).sum())
    attributable = int(c["attributable"].sum())
    with_scanners = ctx.denominator + len(scanners) + int(ctx.facts["scanner_sessions"]["connections"].sum())
    return {"handshake_failures": n_fail, "tls_sessions": n_conn,
            "failure_rate": _round(n_fail / ctx.denominator, 4) if ctx.denominator else None,
            "tls_requests": int(hosts["sessions"].sum()), "unlabelled_requests": totals["plain_answers_kept"],
            "attributable": attributable, "unattributable": n_fail - attributable,
            "recovered": recovered, "unrecovered": attributable - recovered,
            "scanner_failures": len(scanners),
            "failure_rate_with_scanners": (_round((n_fail + len(scanners)) / with_scanners, 4)
                                           if with_scanners else None),
            "health_checks": len(_of(ctx.fails, "health_check")),
            "ignored_failures": len(_of(ctx.fails, "ignored"))}


def _coverage(ctx: Context) -> dict[str, Any]:
    totals = ctx.facts.totals
    un = ctx.client[~ctx.client["attributable"].to_numpy(dtype=bool)]
    return {"access_lines": totals["access_rows"] + totals["plain_rows"],
            "access_lines_without_tls": totals["plain_rows"],
            # of those, the lines that show an answer on the TLS port (not 400, not a redirect)
            "access_lines_without_tls_answered": totals["plain_answers"],
            "rejects": int(ctx.rejects),
            "error_log_periods_without_access_log": _uncovered(ctx.m, ctx.facts["hours"]),
            "unattributable_failures": len(un),
            "ignored": len(_of(ctx.fails, "ignored"))}


def _uncovered(m: pd.DataFrame, covered: pd.DataFrame) -> list[dict[str, Any]]:
    """Runs of UTC hours with error-log failures and no access-log line of the same host.

    ``covered``: the ``hours`` fact (distinct host and UTC hour of access lines).
    """
    err = m[_text_col(m, "source").fillna("").astype(str).str.startswith("nginx_error").to_numpy()
            & m["ts"].notna().to_numpy()]
    if err.empty:
        return []
    seen = set(zip(covered["host"].map(lambda h: NO_HOST if pd.isna(h) else str(h)),
                   covered["hour"].astype(int), strict=True))
    # failures counted once per host-hour: distinct (host, hour, key) rows, the key as a code
    hours = pd.DataFrame({"host": err["host"].astype(str).array, "hour": hours_since_epoch(err["ts"]),
                          "key": pd.factorize(err["failure_key"])[0]}).drop_duplicates()
    hours = hours.groupby(["host", "hour"], sort=True).size().rename("failures").reset_index()
    out: list[dict[str, Any]] = []
    for host, g in hours.groupby("host", sort=True):
        run: dict[str, Any] | None = None
        for hour, n in zip(g["hour"].astype(int), g["failures"], strict=True):
            if (str(host), hour) in seen:
                run = None
                continue
            if run is not None and hour == run["_end"]:
                run["_end"] = hour + 1
                run["failures"] += int(n)
                continue
            run = {"host": str(host), "_start": hour, "_end": hour + 1, "failures": int(n)}
            out.append(run)
    return [{"host": r["host"], "start": iso(_hour(r["_start"])), "end": iso(_hour(r["_end"])),
             "failures": r["failures"]} for r in out]


def _hour(hours: int) -> pd.Timestamp:
    return pd.Timestamp(hours * COVERAGE_BUCKET_S, unit="s", tz="UTC")


def _scanners(ctx: Context) -> list[dict[str, Any]]:
    sc = _of(ctx.fails, "scanner")
    if sc.empty:
        return []
    span, reasons = _per_client(sc)
    why = sc.assign(_c=sc["client_addr"].astype(str)).groupby("_c")["evidence"].first()
    sessions = dict(zip(ctx.facts["scanner_sessions"]["client_addr"], ctx.facts["scanner_sessions"]["rows"],
                        strict=True))
    rows = [{"client": c, "failures": int(size), "reasons": reasons[c], "first_seen": lo,
             "last_seen": hi, "evidence": None if pd.isna(why.get(c)) else str(why.get(c)),
             "tls_sessions": int(sessions.get(c, 0))}
            for c, size, lo, hi in zip(span.index, span["size"], iso_many(span["min"]), iso_many(span["max"]),
                                       strict=True)]
    rows.sort(key=lambda r: (-r["failures"], r["client"]))
    return rows


def _health_checks(ctx: Context) -> dict[str, Any]:
    hc = _of(ctx.fails, "health_check")
    peers = hc["client_addr"].astype(object).fillna("-").astype(str).value_counts()
    by_lb = {str(k): int(v) for k, v in sorted(peers.items(), key=lambda kv: (-kv[1], kv[0]))}
    return {"count": len(hc), "by_lb": by_lb}


def _hosts(ctx: Context) -> list[dict[str, Any]]:
    hosts = ctx.facts["hosts"]
    conns: dict[str, int] = {}
    for h, n in zip(hosts["host"], hosts["connections"], strict=True):
        name = NO_HOST if pd.isna(h) else str(h)
        conns[name] = conns.get(name, 0) + int(n)
    # failures per (host, class): one count, not a copy of the failures per host
    per = pd.DataFrame({"h": ctx.fails["host"].astype(str), "c": ctx.fails["class"].astype(object)}).value_counts()
    n = {(str(h), str(c)): int(k) for (h, c), k in per.items()}
    names = sorted({h for h, _ in n} | set(conns))
    return [{"host": h, "handshake_failures": n.get((h, "client"), 0), "tls_sessions": conns.get(h, 0),
             "scanner_failures": n.get((h, "scanner"), 0), "health_checks": n.get((h, "health_check"), 0)}
            for h in names]


SECTIONS: list[tuple[str, Callable[[Context], Any]]] = [
    ("coverage", _coverage),
    ("scanners", _scanners),
    ("health_checks", _health_checks),
    ("hosts", _hosts),
]
"""Report sections after ``lb``, in SPEC §7 order: ``(key, function of the Context)``.
A new section (``successes``, ``what_if``, ``actions``) is one more entry here; the
verdict reads ``coverage``, ``scanners`` and ``health_checks`` from what these give."""
