"""Naming the real client of nginx failures that show a load balancer (SPEC §6).

Behind a PROXY-protocol TCP load balancer, nginx's failure line says ``client: <LB>``
and no access-log line exists for the failed connection (nginx-logs.md §4.1, §5).
Evidence that names the real client, strongest first:

1. a capture's PROXY header on the same connection (``pcap_proxy_header``);
2. nginx's debug line ``PROXY protocol src: A P`` with the same ``*N`` (``proxy_debug_line``);
3. a stream-module line whose realip already names the client (the row itself is real);
4. an error-log ``client:`` that is not a load balancer (``error_log_client``).

A failure seen by the error log *and* by a capture is one failure: the two rows are
merged into the capture's (it has the real client and microsecond time) and the merged
row says ``seen_by`` both.  The join is by load-balancer address, time (the error log's
whole second, plus a clock tolerance) and a consistent reason.  Failures through one load
balancer whose time windows overlap form a cluster; when the cluster and the capture
connections in its window are as many, they are paired in order (nginx's ``*N`` is accept
order, the capture's is time order); when the counts differ the pairing is ambiguous and the
nginx rows stay unattributed (``ambiguous_capture``).  A capture failure that no nginx
line explains stays a failure of its own (the capture is a source like the others).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CLOCK_TOLERANCE_S = 0.5
"""Allowed skew between the capture's clock and nginx's cached second (same host: ms)."""

# Reasons that the error log and a capture can both show for one connection.
_COMPATIBLE = {
    ("inappropriate_fallback", "inappropriate_fallback"),
    ("unsupported_protocol", "unsupported_protocol"),
    ("no_shared_cipher", "no_shared_cipher"),
    ("no_shared_cipher", "other"),  # the capture sees only "handshake_failure" from the server
    ("no_shared_group", "other"),
    ("no_shared_sigalg", "other"),
    ("unsupported_protocol", "other"),
    ("client_rejected_cert", "client_rejected_cert"),
    ("client_rejected_cert", "peer_alert"),  # TLS 1.3 client alerts are encrypted on the wire
    ("peer_alert", "peer_alert"),
    ("peer_closed", "peer_closed"),
    ("timeout", "peer_closed"),
    ("timeout", "timeout"),
    ("plain_http", "plain_http"),
    ("not_tls", "not_tls"),
    ("not_tls", "plain_http"),
    ("other", "other"),
}


def _consistent(nginx_reason: str, capture_reason: str) -> bool:
    return (nginx_reason, capture_reason) in _COMPATIBLE


def from_debug_lines(failures: pd.DataFrame, headers: pd.DataFrame) -> pd.DataFrame:
    """Name the client of nginx failures from ``PROXY protocol src:`` lines with the same ``*N``."""
    if failures.empty or headers.empty:
        return failures
    nginx_headers = headers[(headers["source"] == "nginx_error") & headers["conn_id"].notna()]
    if nginx_headers.empty:
        return failures
    # conn_id is unique for one master's lifetime on one host only: key on (host, *N) and
    # also require the times to agree.
    nginx_headers = nginx_headers.assign(_key=_conn_key(nginx_headers))
    first = nginx_headers.sort_values("ts").drop_duplicates("_key", keep="last")
    src = first.set_index("_key")
    out = failures.copy()
    keys = _conn_key(out)
    mask = (out["source"] == "nginx_error") & keys.isin(src.index)
    if not mask.any():
        return failures
    ids = keys[mask]
    near = (out.loc[mask, "ts"].to_numpy() - src.loc[ids, "ts"].to_numpy()) / np.timedelta64(1, "s")
    ok = ids.index[np.abs(near.astype(float)) <= 5.0]
    if len(ok) == 0:
        return failures
    named = src.loc[keys[ok], "src_addr"].to_numpy()
    out.loc[ok, "lb_addr"] = out.loc[ok, "client_addr"]
    out.loc[ok, "client_addr"] = named
    out.loc[ok, "client_is_real"] = True
    out.loc[ok, "attribution"] = "proxy_debug_line"
    return out


def _conn_key(frame: pd.DataFrame) -> pd.Series:
    """``host/*N`` of each row (``*N`` counts per nginx instance)."""
    host = frame["host"].astype(object).fillna("").astype(str) if "host" in frame else ""
    return host + "/" + frame["conn_id"].astype("Int64").astype(str)


_REAL = ("error_log_client", "stream_realip", "proxy_debug_line")


def merge_capture(failures: pd.DataFrame, tolerance_s: float = CLOCK_TOLERANCE_S) -> pd.DataFrame:
    """Merge nginx error-log failures with the capture's view of the same connections.

    nginx rows that already name the real client are joined on that client; rows that show
    a load balancer are joined on it (the capture's TCP peer).  Copies of one nginx line
    (the same ``*N``, second, reason and listener, written to two error logs) join the same
    capture row.  Cost: one pass over the nginx rows, each against the capture rows of its
    second — fine for captures, which are small next to logs.
    """
    if failures.empty:
        return failures
    out = failures.copy()
    if "seen_by" not in out:
        out["seen_by"] = out["source"].astype("string")
    is_pcap = out["source"] == "pcap"
    is_nginx = out["source"].isin(["nginx_error", "nginx_stream"])
    if not is_pcap.any() or not is_nginx.any():
        return out
    cap = out[is_pcap].sort_values("ts")
    nginx = out[is_nginx].copy()
    nginx["_second"] = nginx["ts"].dt.floor("s")
    nginx["_real"] = nginx["attribution"].isin(_REAL)
    nginx["_key"] = nginx["client_addr"].where(nginx["_real"], nginx["lb_addr"].fillna(nginx["client_addr"]))
    if "host" not in nginx:
        nginx["host"] = ""
    copy_key = ["host", "conn_id", "_second", "reason", "server_addr"]
    first = nginx.drop_duplicates(copy_key)
    copies = nginx.groupby(copy_key, dropna=False).groups
    used: set[object] = set()
    drop: list[object] = []
    # Rows that name their client first: they are the most specific.
    for real in (True, False):
        part = first[first["_real"] == real]
        for (reason, key), rows in part.groupby(["reason", "_key"], dropna=False):
            match = cap["client_addr"] == key if real else cap["lb_addr"].fillna(cap["client_addr"]) == key
            ok = pd.Series([_consistent(str(reason), str(r)) for r in cap["reason"]], index=cap.index, dtype=bool)
            pool = cap[match.fillna(False).astype(bool) & ok & ~cap.index.isin(list(used))]
            if pool.empty:
                continue
            for cluster in _clusters(rows.sort_values(["_second", "conn_id", "file", "line"]), tolerance_s):
                lo = cluster["_second"].iloc[0] - pd.Timedelta(seconds=tolerance_s)
                hi = cluster["_second"].iloc[-1] + pd.Timedelta(seconds=1 + tolerance_s)
                cand = pool[(pool["ts"] >= lo) & (pool["ts"] < hi) & ~pool.index.isin(list(used))]
                if len(cand) == 0:
                    continue
                if len(cand) != len(cluster):
                    if not real:
                        out.loc[cluster.index, "attribution"] = "ambiguous_capture"
                    continue
                # As many on both sides: pair in accept order (*N) with capture time order.
                for (_, row), target in zip(cluster.iterrows(), cand.sort_values("ts").index, strict=True):
                    used.add(target)
                    keys = tuple(row[c] for c in copy_key)
                    drop.extend(copies.get(keys, [row.name]))  # type: ignore[call-overload]
                    _absorb(out, target, row)
    return out.drop(index=drop)


def _clusters(rows: pd.DataFrame, tolerance_s: float) -> list[pd.DataFrame]:
    """Runs of failures whose time windows overlap: within one, only counts can be paired."""
    out: list[pd.DataFrame] = []
    start = 0
    seconds = rows["_second"].tolist()
    for i in range(1, len(seconds) + 1):
        if i == len(seconds) or (seconds[i] - seconds[i - 1]).total_seconds() >= 1 + 2 * tolerance_s:
            out.append(rows.iloc[start:i])
            start = i
    return out


def _absorb(out: pd.DataFrame, target: object, row: pd.Series) -> None:
    """The capture row ``target`` becomes the merged failure; it keeps nginx's words."""
    out.loc[target, "seen_by"] = "nginx_error+pcap"
    if pd.isna(out.loc[target, "server_addr"]):
        out.loc[target, "server_addr"] = row["server_addr"]
    if out.loc[target, "reason"] in ("other", "peer_alert"):
        out.loc[target, "reason"] = row["reason"]  # nginx knows why it refused
    out.loc[target, "reason_text"] = row["reason_text"]
    out.loc[target, "conn_id"] = row["conn_id"]
    out.loc[target, "level"] = row["level"]


def merge_stream_access(failures: pd.DataFrame) -> pd.DataFrame:
    """Drop stream access-log failures that the error log also has (same ``*N``, close in time).

    The error-log line says why; what is left is the stream handshake timeouts, which only
    the access log records (nginx-logs.md §3, §5).
    """
    stream = failures["source"] == "nginx_stream"
    if not stream.any():
        return failures
    errors = failures[(failures["source"] == "nginx_error") & failures["conn_id"].notna()]
    if errors.empty:
        return failures
    by_conn = errors.groupby(_conn_key(errors))["ts"].agg(["min", "max"])
    keys = _conn_key(failures)
    rows = failures[stream & keys.isin(by_conn.index)]
    near = by_conn.loc[keys[rows.index]]
    slack = pd.Timedelta(seconds=STREAM_SLACK_S)
    dup = ((rows["ts"].to_numpy() >= (near["min"] - slack).to_numpy())
           & (rows["ts"].to_numpy() <= (near["max"] + slack).to_numpy()))
    return failures.drop(index=rows.index[dup])


STREAM_SLACK_S = 5.0
"""How far a stream access entry (written at session end) may be from its error-log line."""


def attribute_failures(failures: pd.DataFrame, headers: pd.DataFrame) -> pd.DataFrame:
    """Apply every kind of evidence to ``failures``; returns one row per failure."""
    named = from_debug_lines(merge_stream_access(failures), headers)
    return merge_capture(named)
