"""Naming the real client of nginx failures that show a load balancer (SPEC §6).

Behind a PROXY-protocol TCP load balancer, nginx's failure line says ``client: <LB>``
and no access-log line exists for the failed connection (nginx-logs.md §4.1, §5).
Evidence that names the real client, strongest first:

1. a capture's PROXY header on the same connection (``pcap_proxy_header``);
2. nginx's debug line ``PROXY protocol src: A P`` with the same ``*N`` (``proxy_debug_line``);
3. a stream-module line whose realip already names the client (the row itself is real);
4. an error-log ``client:`` that is not a load balancer (``error_log_client``).

A failure seen by the error log *and* by a capture is one failure: the nginx row is
linked to the capture's (it has the real client and microsecond time), which becomes the
failure's representative and says ``seen_by`` both.  No row is dropped: a linked row gets
``merged_into`` (the index label of its representative; null on representatives), so that
``matches`` keeps one row per stored failure row with a shared ``failure_key`` (SPEC §4).  The join is by load-balancer address, time (the error log's
whole second, plus a clock tolerance) and a consistent reason.  Failures through one load
balancer whose time windows overlap form a cluster; when the cluster and the capture
connections in its window are as many, they are paired in order (nginx's ``*N`` is accept
order, the capture's is time order); when the counts differ the pairing is ambiguous and the
nginx rows stay unattributed (``ambiguous_capture``).  A capture failure that no nginx
line explains stays a failure of its own (the capture is a source like the others).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

CLOCK_TOLERANCE_S = 0.5
"""Allowed skew between the capture's clock and nginx's cached second (same host: ms)."""
LOG_LAG_S = 1.5
"""How long after the packet that ended a connection nginx may write its line.  nginx's time
is the second cached when its event loop woke up, and a loaded host wakes it late: the messy
lab at load 6 on 2 cores had a line 0.12 s after its capture row, across a second boundary.
Used where a cluster's capture rows all name one client and are aligned with its lines in
order, where one more candidate cannot make the pairing ambiguous."""

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
    # bytes nginx calls not TLS ("wrong version number", an SSLv2 hello) that the capture
    # parsed far enough to see the connection end or an alert (testssl's probes do this)
    ("not_tls", "peer_closed"),
    ("not_tls", "peer_alert"),
    ("not_tls", "other"),
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
_EMPTY_HEADER = 'broken header: ""'


def _with_links(failures: pd.DataFrame) -> pd.DataFrame:
    out = failures.copy()
    if "merged_into" not in out:
        out["merged_into"] = pd.Series([None] * len(out), index=out.index, dtype=object)
    return out


def _unlinked(frame: pd.DataFrame) -> pd.Series:
    if "merged_into" not in frame:
        return pd.Series(True, index=frame.index)
    return frame["merged_into"].isna()


def representatives(failures: pd.DataFrame) -> pd.DataFrame:
    """The rows that stand for a failure: those not linked into another row."""
    return failures[_unlinked(failures).to_numpy(dtype=bool)]


def merge_capture(failures: pd.DataFrame, tolerance_s: float = CLOCK_TOLERANCE_S,
                  lag_s: float = LOG_LAG_S) -> pd.DataFrame:
    """Merge nginx error-log failures with the capture's view of the same connections.

    nginx rows that already name the real client are joined on that client; rows that show
    a load balancer are joined on it (the capture's TCP peer).  Copies of one nginx line
    (the same ``*N``, second, reason and listener, written to two error logs) join the same
    capture row.  Cost: one pass over the nginx rows, each against the capture rows of its
    second — fine for captures, which are small next to logs.
    """
    if failures.empty:
        return failures
    out = _with_links(failures)
    if "seen_by" not in out:
        out["seen_by"] = out["source"].astype("string")
    free = _unlinked(out)
    is_pcap = (out["source"] == "pcap") & free
    is_nginx = out["source"].isin(["nginx_error", "nginx_stream"]) & free
    if not is_pcap.any() or not is_nginx.any():
        return out
    cap = out[is_pcap].sort_values("ts")
    nginx = out[is_nginx].copy()
    nginx["_second"] = nginx["ts"].dt.floor("s")
    nginx["_real"] = nginx["attribution"].isin(_REAL)
    nginx["_key"] = nginx["client_addr"].where(nginx["_real"], nginx["lb_addr"].fillna(nginx["client_addr"]))
    if "host" not in nginx:
        nginx["host"] = ""
    cap_host = cap["host"].astype(object).fillna("").astype(str) if "host" in cap else pd.Series("", index=cap.index)
    nginx_hosts = set(nginx["host"].astype(object).fillna("").astype(str)) if "host" in nginx else {""}
    # nginx's `broken header: ""` on a PROXY listener is a close before any byte: the
    # capture calls that peer_closed (a health check's connect-then-close).
    text = nginx["reason_text"].astype(object).fillna("").astype(str) if "reason_text" in nginx else ""
    nginx["_reason"] = nginx["reason"].where(~pd.Series(text, index=nginx.index).str.startswith(_EMPTY_HEADER),
                                             "peer_closed")
    copy_key = ["host", "conn_id", "_second", "reason", "server_addr"]
    first = nginx.drop_duplicates(copy_key)
    copies = nginx.groupby(copy_key, dropna=False).groups
    used: set[object] = set()

    def link(label: Any, target: Any) -> None:
        row = first.loc[label]
        used.add(target)
        keys = tuple(row[c] for c in copy_key)
        linked = list(copies.get(keys, [row.name]))  # type: ignore[call-overload]
        out.loc[linked, "merged_into"] = target
        _absorb(out, target, row)

    # A cluster through one load balancer whose capture rows all name one client (a scanner
    # behind the LB: dozens of connections a second, of every reason) is paired as a whole,
    # across reasons: the client is certain whatever the pairing, and aligning the lines with
    # the capture rows in order stops one failure being counted twice.
    lb_rows = first[~first["_real"]]
    for (key, host), rows in lb_rows.groupby(["_key", "host"], dropna=False):
        match = cap["lb_addr"].fillna(cap["client_addr"]) == key
        match &= (cap_host == str(host)) | ~cap_host.isin(nginx_hosts)
        pool = cap[match.fillna(False).astype(bool)]
        for cluster in _clusters(rows.sort_values(["_second", "conn_id", "file", "line"]), tolerance_s, lag_s):
            lo = cluster["_second"].iloc[0] - pd.Timedelta(seconds=lag_s)
            hi = cluster["_second"].iloc[-1] + pd.Timedelta(seconds=1 + tolerance_s)
            cand = pool[(pool["ts"] >= lo) & (pool["ts"] < hi) & ~pool.index.isin(list(used))]
            if cand.empty or cand["client_addr"].nunique() != 1:
                continue
            # a few lines pair only with consistent reasons; a burst pairs across them
            for label, target in _pair_burst(cluster, cand, tolerance_s, lag_s, len(cluster) < BURST_ROWS):
                link(label, target)
    first = first[~first.index.isin(out.index[out["merged_into"].notna()])]
    # Rows that name their client first: they are the most specific.  One host's nginx
    # lines pair with the same host's capture only (when the capture's host is one of the
    # logs' hosts: a capture file given apart may carry another name).
    for real in (True, False):
        part = first[first["_real"] == real]
        for (reason, key, host), rows in part.groupby(["_reason", "_key", "host"], dropna=False):
            match = cap["client_addr"] == key if real else cap["lb_addr"].fillna(cap["client_addr"]) == key
            # a capture whose host no nginx log shares (a file named apart) pairs with any
            match &= (cap_host == str(host)) | ~cap_host.isin(nginx_hosts)
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
                pairs: list[tuple[Any, Any]] = []
                if len(cand) == len(cluster):
                    # As many on both sides: pair in accept order (*N) with capture time order.
                    pairs = list(zip(cluster.index, cand.sort_values("ts").index, strict=True))
                elif cand["client_addr"].nunique() == 1:
                    # One real client behind every candidate (a scanner through the LB): the
                    # client is certain whatever the pairing; pair each line with the
                    # nearest unused capture row of its second, exact reason first.
                    pairs = _nearest(cluster, cand, tolerance_s)
                if not pairs:
                    if not real:
                        out.loc[cluster.index, "attribution"] = "ambiguous_capture"
                    continue
                for label, target in pairs:
                    link(label, target)
    return out


BURST_ROWS = 5
"""nginx lines through one load balancer in one run of overlapping seconds that make a burst."""


def _pair_burst(cluster: pd.DataFrame, cand: pd.DataFrame, tolerance_s: float, lag_s: float,
                consistent_only: bool = False) -> list[tuple[Any, Any]]:
    """Pairs (nginx label, capture label) of a one-client cluster (``consistent_only``: no
    pair of inconsistent reasons, for a cluster too small to be a burst).

    Both sides list the same connections in the same order: nginx writes a failure when the
    connection ends, the capture's row is timed at that end, and a scanner's probes end one
    after another.  So the pairing is an order-preserving alignment (nginx lines by second and
    ``*N``, as ``cluster`` comes; capture rows by time), each capture row at most ``lag_s``
    before its line's second and ``tolerance_s`` after it, that pairs as many rows as it can, then as many of the same reason
    (then of a consistent one), then capture rows nearest the middle of their lines' seconds
    (in a small cluster: the earliest).
    A greedy best-pair-first choice let a line take a later connection of its own reason and
    left its neighbour's second without a capture row: one failure counted twice (the messy
    lab's testssl run, 1 run in 5).  Cost: time and memory O(lines x rows) of one burst.
    """
    caps = cand.sort_values(["ts", "file", "line"], kind="stable")
    n, m = len(cluster), len(caps)
    sec = (cluster["_second"].to_numpy(dtype="datetime64[us]").astype("int64") / 1e6)[:, None]
    t = (caps["ts"].to_numpy(dtype="datetime64[us]").astype("int64") / 1e6)[None, :]
    ok = (t >= sec - lag_s) & (t < sec + 1 + tolerance_s)
    mine, theirs = cluster["reason"].astype(str).to_numpy(), caps["reason"].astype(str).to_numpy()
    loose = cluster["_reason"].astype(str).to_numpy()
    kinds_a, ia = np.unique(loose, return_inverse=True)
    kinds_b, ib = np.unique(theirs, return_inverse=True)
    fits = np.array([[_consistent(a, b) for b in kinds_b] for a in kinds_a], dtype=bool).reshape(len(kinds_a), -1)
    rank = np.where(mine[:, None] == theirs[None, :], 0, np.where(fits[ia][:, ib], 1, 2))
    if consistent_only:
        ok &= rank < 2
    # weights that make the score lexicographic: pairs, then reasons, then distance
    w_rank = n * (1 + lag_s + tolerance_s) + 1
    w_pair = 3 * n * w_rank
    # a burst's line takes the row nearest the middle of its second, a few lines the earliest
    dist = t - (sec - lag_s) if consistent_only else np.abs(t - (sec + 0.5))
    gain = np.where(ok, w_pair - w_rank * rank - dist, -np.inf)
    best = np.zeros((n + 1, m + 1))
    for i in range(n):
        best[i + 1, 1:] = np.maximum.accumulate(np.maximum(best[i, 1:], best[i, :-1] + gain[i]))
    pairs: list[tuple[Any, Any]] = []
    i, j = n, m
    while i and j:
        if best[i, j] == best[i, j - 1]:
            j -= 1
        elif best[i, j] == best[i - 1, j]:
            i -= 1
        else:
            pairs.append((cluster.index[i - 1], caps.index[j - 1]))
            i, j = i - 1, j - 1
    return pairs[::-1]


def _nearest(cluster: pd.DataFrame, cand: pd.DataFrame, tolerance_s: float) -> list[tuple[Any, Any]]:
    """Pairs (nginx label, capture label) when one client is behind every candidate.

    Lines without a capture row of their own second stay unpaired (and unattributed).
    """
    free = cand.sort_values("ts")
    taken: set[Any] = set()
    pairs: list[tuple[Any, Any]] = []
    for label, row in cluster.iterrows():
        lo = row["_second"] - pd.Timedelta(seconds=tolerance_s)
        hi = row["_second"] + pd.Timedelta(seconds=1 + tolerance_s)
        near = free[(free["ts"] >= lo) & (free["ts"] < hi) & ~free.index.isin(list(taken))]
        if near.empty:
            continue
        exact = near[near["reason"] == row["reason"]]
        target = (exact if len(exact) else near).index[0]
        taken.add(target)
        pairs.append((label, target))
    return pairs


def _clusters(rows: pd.DataFrame, tolerance_s: float, lag_s: float | None = None) -> list[pd.DataFrame]:
    """Runs of failures whose time windows (``lag_s``, default ``tolerance_s``, before a
    line's second to ``tolerance_s`` after it) overlap: within one, only counts can be paired."""
    gap_lag = tolerance_s if lag_s is None else lag_s
    out: list[pd.DataFrame] = []
    start = 0
    seconds = rows["_second"].tolist()
    for i in range(1, len(seconds) + 1):
        if i == len(seconds) or (seconds[i] - seconds[i - 1]).total_seconds() >= 1 + tolerance_s + gap_lag:
            out.append(rows.iloc[start:i])
            start = i
    return out


def _absorb(out: pd.DataFrame, target: object, row: pd.Series) -> None:
    """The capture row ``target`` becomes the merged failure; it keeps nginx's words."""
    out.loc[target, "seen_by"] = "nginx_error+pcap"
    if pd.isna(out.loc[target, "server_addr"]):
        out.loc[target, "server_addr"] = row["server_addr"]
    out.loc[target, "reason"] = row["reason"]  # nginx knows why it refused
    out.loc[target, "reason_text"] = row["reason_text"]
    out.loc[target, "conn_id"] = row["conn_id"]
    out.loc[target, "level"] = row["level"]


def merge_stream_access(failures: pd.DataFrame) -> pd.DataFrame:
    """Link stream access-log failures to the error-log line of the same connection.

    Same ``*N`` (and ``host`` when there is one: ``*N`` is per nginx instance), close in
    time.  The error-log line says why and represents the failure; the stream entry gets
    ``merged_into`` pointing at it.  What is left unlinked is the stream handshake
    timeouts, which only the access log records (nginx-logs.md §3, §5).
    """
    if failures.empty:
        return failures
    out = _with_links(failures)
    stream = (out["source"] == "nginx_stream") & _unlinked(out)
    if not stream.any():
        return out
    errors = out[(out["source"] == "nginx_error") & out["conn_id"].notna()]
    if errors.empty:
        return out
    key = _conn_key(out)
    ekey = key[errors.index]
    by_conn = errors.assign(_key=ekey).reset_index(names="_label").sort_values(["ts", "_label"])
    agg = by_conn.groupby("_key").agg(lo=("ts", "min"), hi=("ts", "max"), target=("_label", "first"))
    rows = out[stream & key.isin(agg.index)]
    near = agg.loc[key[rows.index]]
    slack = pd.Timedelta(seconds=STREAM_SLACK_S)
    dup = ((rows["ts"].to_numpy() >= (near["lo"] - slack).to_numpy())
           & (rows["ts"].to_numpy() <= (near["hi"] + slack).to_numpy()))
    out.loc[rows.index[dup], "merged_into"] = near["target"].to_numpy()[dup]
    return out


STREAM_SLACK_S = 5.0
"""How far a stream access entry (written at session end) may be from its error-log line."""


def attribute_failures(failures: pd.DataFrame, headers: pd.DataFrame) -> pd.DataFrame:
    """Apply every kind of evidence to ``failures``; returns every row, linked rows marked.

    ``merged_into`` (index label of the representative row, null on representatives)
    says which rows are one failure; :func:`representatives` gives one row per failure.
    """
    named = from_debug_lines(merge_stream_access(failures), headers)
    return merge_capture(named)
