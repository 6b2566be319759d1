"""The report's ``lb`` section: the load balancer's counts beside what the logs recorded.

Per load balancer and per CloudWatch period (a datapoint's timestamp is the start of its
period, ``[start, start + period_s)``): the LB's ``ClientTLSNegotiationErrorCount`` and
new-connection count, what nginx logged (failures; sessions that are connections), and
what the LB's own logs recorded (``alb_*``/``nlb_*``/``clb_*`` sources).

Which logs can explain the LB's TLS-error count follows the topology
(``reference/aws-load-balancers.md`` §9): the metric exists only where the LB terminates
TLS (ALB; NLB TLS listener), and there the failed handshakes never reach nginx.  So
``explained_share`` counts the LB's own logs only: per period ``min(lb_log_failures,
lb_tls_errors)``, summed, over the summed errors.  nginx's failures are shown beside, as
the other handshakes they are (LB→nginx, or another listener).  LB-log rows do not name
their load balancer, so with several LBs of one kind each sees all of that kind's rows.
Overlapping exports of one series are merged by keeping one value per timestamp.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from logcorr.sources.cloudwatch import ALB, CLB, NLB, namespace_of

TLS_ERRORS = "ClientTLSNegotiationErrorCount"
# New client connections, best first: ALB (client→LB and LB→target, ALB-M), NLB TLS/all
# flows (NLB-M), Classic's estimate (CLB), then concurrent counts when nothing better exists.
CONNECTION_METRICS = ("NewConnectionCount", "NewFlowCount_TLS", "NewFlowCount", "NewFlowCount_TCP",
                      "EstimatedALBNewConnectionCount", "ActiveConnectionCount", "ActiveFlowCount")
DEFAULT_PERIOD_S = 300  # the console's and CLI examples' period, when the export cannot tell
LB_LOG_PREFIXES = ("alb_", "nlb_", "clb_")


def _micros(ts: pd.Series) -> np.ndarray:
    """Sorted UTC microseconds of a timestamp column (NaT dropped)."""
    idx = pd.DatetimeIndex(ts.dropna())
    if idx.tz is None:
        idx = idx.tz_localize("UTC")
    return np.sort(idx.as_unit("us").asi8)


def _iso(us: int) -> str:
    return pd.Timestamp(us, unit="us", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _count(stamps: np.ndarray, starts: np.ndarray, period_us: int) -> list[int]:
    lo = np.searchsorted(stamps, starts, side="left")
    hi = np.searchsorted(stamps, starts + period_us, side="left")
    return [int(x) for x in hi - lo]


def _series(rows: pd.DataFrame, metric: str) -> dict[int, float]:
    """{period start µs: value} of one metric's Sum (or unstated statistic)."""
    sel = rows[(rows["metric"] == metric)
               & (rows["statistic"].isna() | (rows["statistic"] == "Sum"))]
    if sel.empty:
        return {}
    stamps = _micros(sel["ts"])  # sorted; pair values in the same order
    order = np.argsort(pd.DatetimeIndex(sel["ts"]).as_unit("us").asi8, kind="stable")
    values = sel["value"].to_numpy(dtype="float64", na_value=np.nan)[order]
    return {int(t): float(v) for t, v in zip(stamps, values, strict=True) if not np.isnan(v)}


def _num(x: float | None) -> int | float | None:
    if x is None:
        return None
    return int(x) if float(x).is_integer() else round(float(x), 3)


def _share(explained: float, errors: float) -> float | None:
    return round(explained / errors, 4) if errors > 0 else None


def lb_section(metrics: pd.DataFrame, failures: pd.DataFrame, sessions: pd.DataFrame, *,
               lb_sources: set[str] | None = None) -> dict[str, Any] | None:
    """The SPEC §7 ``lb`` object, or None when there are no ``lb_metrics``.

    ``lb_sources`` names the ``source`` values that are the load balancers' own logs
    (default: every source starting with ``alb_``, ``nlb_`` or ``clb_``).
    """
    if metrics is None or metrics.empty:
        return None
    fsrc = failures["source"].astype("string").fillna("")
    nginx = fsrc.str.startswith("nginx_")
    if "client_side" in failures:  # "SSL handshaking to upstream" is nginx's own client side
        nginx &= failures["client_side"].astype("boolean").fillna(True).astype(bool)
    nginx_f = failures[nginx]
    is_lb = fsrc.isin(lb_sources) if lb_sources is not None else fsrc.str.startswith(LB_LOG_PREFIXES)
    lb_f = failures[is_lb]
    ssrc = sessions["source"].astype("string").fillna("")
    nginx_s = sessions[ssrc.str.startswith("nginx_")]
    conn = nginx_s["is_connection"].astype("boolean")
    requests_as_connections = bool(len(nginx_s)) and bool(conn.isna().all())
    nginx_conn = _micros(nginx_s["ts"] if requests_as_connections else nginx_s["ts"][conn.fillna(False)])
    nginx_fail = _micros(nginx_f["ts"])

    out = []
    for name, rows in metrics.groupby("load_balancer", sort=True):
        out.append(_one_lb(str(name), rows, nginx_fail, nginx_conn, lb_f, requests_as_connections))
    return {"load_balancers": out, "summary": _summary(out)}


def _one_lb(name: str, rows: pd.DataFrame, nginx_fail: np.ndarray, nginx_conn: np.ndarray,
            lb_f: pd.DataFrame, requests_as_connections: bool) -> dict[str, Any]:
    spaces = rows["namespace"].dropna()
    namespace = str(spaces.mode().iloc[0]) if len(spaces) else namespace_of(name, TLS_ERRORS)
    metric_names = set(rows["metric"].dropna().astype(str))
    errors = _series(rows, TLS_ERRORS)
    conn_metric = next((m for m in CONNECTION_METRICS if m in metric_names), None)
    conns = _series(rows, conn_metric) if conn_metric else {}
    used = rows[rows["metric"].isin([TLS_ERRORS, conn_metric])]
    if used.empty:  # neither series (Classic ELB, say): the periods of whatever was exported
        used = rows
    periods = used["period_s"].dropna()
    period_assumed = periods.empty
    period_s = int(periods.min()) if not periods.empty else DEFAULT_PERIOD_S
    starts = np.array(sorted(set(errors) | set(conns)) or sorted(set(_micros(used["ts"]).tolist())),
                      dtype="int64")
    period_us = period_s * 1_000_000

    # the LB's own logs of the matching kind (ALB ↔ alb_*, NLB ↔ nlb_*, Classic ↔ clb_*)
    prefix = {ALB: "alb_", NLB: "nlb_", CLB: "clb_"}.get(namespace or "")
    mine = lb_f[lb_f["source"].astype(str).str.startswith(prefix)] if prefix else lb_f
    lb_fail = _micros(mine["ts"])
    counts = {"nginx_failures": _count(nginx_fail, starts, period_us),
              "nginx_connections": _count(nginx_conn, starts, period_us),
              "lb_log_failures": _count(lb_fail, starts, period_us)}
    has_metric = namespace != CLB and bool(errors)
    per: list[dict[str, Any]] = []
    explained = total = 0.0
    for i, start in enumerate(starts.tolist()):
        err = errors.get(start)
        share = None
        if err is not None:
            got = min(float(counts["lb_log_failures"][i]), err)
            explained += got
            total += err
            share = _share(got, err)
        per.append({"start": _iso(start), "lb_tls_errors": _num(err),
                    "lb_new_connections": _num(conns.get(start)),
                    **{k: v[i] for k, v in counts.items()}, "explained_share": share})
    entry: dict[str, Any] = {
        "name": name, "namespace": namespace, "period_s": period_s,
        "period_assumed": period_assumed, "connections_metric": conn_metric,
        "nginx_connections_are_requests": requests_as_connections,
        "periods": per,
        "lb_tls_errors": _num(sum(errors.values())) if has_metric else None,
        "lb_new_connections": _num(sum(conns.values())) if conns else None,
        "nginx_failures": sum(counts["nginx_failures"]),
        "nginx_connections": sum(counts["nginx_connections"]),
        "lb_log_failures": sum(counts["lb_log_failures"]),
        "lb_logs_present": bool(len(mine)),
        "explained_share": _share(explained, total) if has_metric else None,
    }
    entry["topology"] = _topology(entry, metric_names)
    return entry


def _topology(e: dict[str, Any], metric_names: set[str]) -> str:
    """What this load balancer's kind implies for who sees a failed handshake (§9)."""
    ns = e["namespace"]
    tls_listener = e["lb_tls_errors"] is not None or bool(metric_names & {
        "NewFlowCount_TLS", "ActiveFlowCount_TLS", "ProcessedBytes_TLS"})
    if ns == CLB:
        return ("AWS/ELB has no TLS negotiation-error metric: behind a TCP listener the handshakes "
                "reach nginx, whose logs are the only count; behind an SSL/HTTPS listener the Classic "
                "ELB terminates TLS and nothing counts its failed handshakes.")
    if ns == NLB and not tls_listener:
        return ("An NLB TCP listener passes handshakes to nginx: failures are in nginx's error log, "
                "and the NLB has only flow and reset counts, no TLS-error count.")
    logs = "ALB connection logs (tls_verify_status Failed:...)" if ns == ALB else (
        "NLB TLS access logs" if ns == NLB else "the load balancer's connection or TLS access logs")
    who = {ALB: "The ALB", NLB: "The NLB TLS listener"}.get(ns or "", "The load balancer (ALB or NLB TLS listener)")
    text = (f"{who} terminates TLS: the failed handshakes it counts never reach nginx, so nginx's "
            f"failures are other handshakes; only {logs} can explain the count.")
    if ns == NLB:
        text += (" NLB logs record only alerts received from clients: its own refusals (no shared "
                 "cipher or version) show as handshakes with no alert.")
    if not e["lb_logs_present"]:
        text += " No such logs were ingested: turn them on to name the failing clients."
    return text


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.0%}"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _summary(lbs: list[dict[str, Any]]) -> str:
    parts = []
    for e in lbs:
        if e["lb_tls_errors"] is None:
            parts.append(f"{e['name']} ({e['namespace'] or 'unknown namespace'}) has no TLS-error "
                         f"metric; nginx logged {_n(e['nginx_failures'], 'failure')} in its periods")
            continue
        parts.append(f"{e['name']} counted {e['lb_tls_errors']} TLS negotiation errors in "
                     f"{len(e['periods'])} periods of {e['period_s']} s; its own logs explain "
                     f"{_pct(e['explained_share'])} ({_n(e['lb_log_failures'], 'logged failure')}), "
                     f"nginx logged {e['nginx_failures']}")
    return "; ".join(parts) + "."


def lb_findings(section: dict[str, Any] | None) -> list[str]:
    """Verdict findings (strings) from an ``lb`` section."""
    if not section:
        return []
    found = []
    for e in section["load_balancers"]:
        errors, share = e["lb_tls_errors"], e["explained_share"]
        if errors is None:
            found.append(f"{e['name']}: no TLS negotiation-error metric for this load balancer "
                         "kind; nginx's logs are the count that matters.")
        elif errors and not e["lb_logs_present"]:
            found.append(f"{e['name']}: {errors} client TLS negotiation errors at the load balancer "
                         "and no load-balancer logs to explain them: enable connection/TLS access "
                         "logs.")
        elif errors and share is not None and share < 1:
            found.append(f"{e['name']}: {errors} client TLS negotiation errors, {_pct(share)} "
                         "explained by the load balancer's logs (logging is best-effort).")
        elif errors:
            found.append(f"{e['name']}: all {errors} client TLS negotiation errors are in the load "
                         "balancer's logs.")
        if e["period_assumed"]:
            found.append(f"{e['name']}: metric period unknown (one datapoint); {e['period_s']} s "
                         "assumed.")
    return found
