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
whole second, plus a clock tolerance) and a consistent reason; when several capture
connections could be the same nginx line, the pairing is ambiguous and the nginx row stays
unattributed — unless the counts on both sides are equal, in which case every pairing gives
the same clients and the group is merged in time order.  A capture failure that no nginx
line explains stays a failure of its own (the capture is a source like the others).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CLOCK_TOLERANCE_S = 1.0
"""Allowed skew between the capture host's clock and nginx's (same host: small)."""

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
    # conn_id is unique for one master's lifetime only: also require the times to agree.
    first = nginx_headers.sort_values("ts").drop_duplicates("conn_id", keep="last")
    src = first.set_index("conn_id")
    out = failures.copy()
    mask = (out["source"] == "nginx_error") & out["conn_id"].isin(src.index)
    if not mask.any():
        return failures
    ids = out.loc[mask, "conn_id"]
    near = (out.loc[mask, "ts"].to_numpy() - src.loc[ids, "ts"].to_numpy()) / np.timedelta64(1, "s")
    ok = ids.index[np.abs(near.astype(float)) <= 5.0]
    if len(ok) == 0:
        return failures
    named = src.loc[out.loc[ok, "conn_id"], "src_addr"].to_numpy()
    out.loc[ok, "lb_addr"] = out.loc[ok, "client_addr"]
    out.loc[ok, "client_addr"] = named
    out.loc[ok, "client_is_real"] = True
    out.loc[ok, "attribution"] = "proxy_debug_line"
    return out


def merge_capture(failures: pd.DataFrame, tolerance_s: float = CLOCK_TOLERANCE_S) -> pd.DataFrame:
    """Merge nginx error-log failures with the capture's view of the same connections."""
    if failures.empty:
        return failures
    out = failures.copy()
    if "seen_by" not in out:
        out["seen_by"] = out["source"].astype("string")
    is_pcap = out["source"] == "pcap"
    is_nginx = (out["source"] == "nginx_error") & (out["attribution"] != "proxy_debug_line")
    if not is_pcap.any() or not is_nginx.any():
        return out
    cap = out[is_pcap]
    # The nginx row's peer: the load balancer (lb_addr when known, else client_addr).
    cap_peer = cap["lb_addr"].fillna(cap["client_addr"])
    drop: list[int] = []
    for idx, row in out[is_nginx].iterrows():
        peer = row["lb_addr"] if pd.notna(row["lb_addr"]) else row["client_addr"]
        second = row["ts"].floor("s")
        lo = second - pd.Timedelta(seconds=tolerance_s)
        hi = second + pd.Timedelta(seconds=1 + tolerance_s)
        cand = cap[(cap_peer == peer) & (cap["ts"] >= lo) & (cap["ts"] < hi)]
        cand = cand[[_consistent(row["reason"], r) for r in cand["reason"]]]
        cand = cand.drop(index=[i for i in cand.index if i in drop])
        if len(cand) == 1:
            target = cand.index[0]
        else:
            # Equal-count groups: the same second, LB and reason on both sides.
            group = out[is_nginx & (out["ts"].dt.floor("s") == second) & (out["reason"] == row["reason"])
                        & (out["lb_addr"].fillna(out["client_addr"]) == peer)]
            if len(cand) == 0 or len(group) != len(cand):
                out.loc[idx, "attribution"] = "ambiguous_capture" if len(cand) else out.loc[idx, "attribution"]
                continue
            rank = list(group.sort_values(["file", "line"]).index).index(idx)
            target = cand.sort_values("ts").index[rank]
        drop.append(idx)
        out.loc[target, "seen_by"] = "nginx_error+pcap"
        for col in ("conn_id", "level", "file", "line"):
            if col in out and pd.notna(row.get(col)):
                out.loc[target, f"nginx_{col}"] = row[col]
        if pd.isna(out.loc[target, "server_addr"]):
            out.loc[target, "server_addr"] = row["server_addr"]
        out.loc[target, "reason"] = row["reason"] if out.loc[target, "reason"] == "other" else out.loc[target, "reason"]
        out.loc[target, "reason_text"] = row["reason_text"]
    return out.drop(index=drop)


def attribute_failures(failures: pd.DataFrame, headers: pd.DataFrame) -> pd.DataFrame:
    """Apply every kind of evidence to ``failures``; returns one row per failure."""
    named = from_debug_lines(failures, headers)
    return merge_capture(named)
