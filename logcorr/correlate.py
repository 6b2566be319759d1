"""Correlation: each handshake failure × the same client's later TLS sessions (SPEC §6).

Pure functions, pandas in and pandas out, no I/O.  The steps, in the order
:func:`correlate` runs them:

1. upstream failures (``client_side`` false: nginx's own handshakes to a backend) are
   dropped: they say nothing about clients (:func:`client_side_only`);
2. :func:`attribute` decides whether ``client_addr`` is the real client;
3. :func:`link_failures` gives rows that are one failure (copies of one nginx line written
   to several error logs, rows that :mod:`logcorr.attribution` linked) one ``failure_key``;
   nothing is dropped, the failure is judged on its representative row;
4. :func:`logcorr.classify.classify` puts each failure in a class (client, scanner,
   health_check, ignored);
5. each attributable failure at ``t`` is matched with the client's first session of
   protocol ≥ ``min_protocol`` in ``[floor(t), t + window]`` (a sort-and-merge,
   ``pd.merge_asof``: n log n, and each client is judged on its own rows only), among
   completed sessions (a stream line with ``$status`` 400/500 is not one).
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from logcorr.errors import LogcorrError

PROTOCOL_ORDER: dict[str, int] = {
    "SSLv3": 0, "TLSv1": 1, "TLSv1.0": 1, "TLSv1.1": 2, "TLSv1.2": 3, "TLSv1.3": 4,
}
"""``$ssl_protocol`` spellings (nginx logs ``TLSv1`` for 1.0) in version order."""

# How the real client was named (SPEC §6), strongest first; lower is stronger.
ATTRIBUTION_STRENGTH: dict[str, int] = {
    "pcap_proxy_header": 0,   # a PROXY protocol header in a capture
    "proxy_debug_line": 1,    # nginx debug "PROXY protocol src: ..." with the same *N
    "stream_realip": 2,       # a stream-module line whose realip names the client
    "lb_log": 3,              # the load balancer's own log names the client (ALB/NLB logs)
    "error_log_client": 3,    # an error-log "client:" that is not a load balancer
    "capture_peer": 3,        # a capture's TCP peer, no PROXY header, not a load balancer
    "pcap_tcp_peer": 3,       # the same, as the capture reader names it
    "log_client": 3,          # any other source's client address
}
_WEAKEST_ATTRIBUTABLE = 4
_UNATTRIBUTABLE = 9
# Evidence that names the client even when the address sits in an --lb-cidr block.
_STRONG = ("pcap_proxy_header", "proxy_debug_line")
# Markers set upstream (sources, logcorr.attribution) on rows whose client_addr is an LB.
_LB_MARKERS = ("lb", "ambiguous_capture")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MATCH_COLUMNS = ["failure_id", "failure_key", "ts", "source", "client_addr", "reason", "attributable",
                 "attribution", "recovered", "recovered_at", "delay_s", "recovered_protocol",
                 "recovered_cipher", "class", "evidence", "file", "line", "host"]
"""The columns of ``schema.MATCHES``, in order."""

_TS = "datetime64[us, UTC]"


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).astype(_TS)


def _column(frame: pd.DataFrame, name: str, default: Any = None) -> pd.Series:
    if name in frame:
        return frame[name]
    return pd.Series([default] * len(frame), index=frame.index, dtype=object)


def _flag(values: pd.Series, missing: bool) -> pd.Series:
    """A nullable bool column (object, numpy or ``boolean``) as plain bool, NA → ``missing``."""
    return values.astype("boolean").fillna(missing).astype(bool)


def _text(values: pd.Series) -> pd.Series:
    return values.astype(pd.StringDtype())


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


class AddressSet:
    """Addresses and CIDR blocks, looked up in O(log n): a hash for single addresses and
    merged intervals searched with bisect for blocks (a log can teach hundreds)."""

    def __init__(self, networks: Sequence[Network | str] = (), addrs: Collection[str] = ()) -> None:
        self.single: set[tuple[int, int]] = set()
        spans: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for n in networks:
            net = ipaddress.ip_network(n, strict=False) if isinstance(n, str) else n
            lo, hi = int(net.network_address), int(net.broadcast_address)
            if lo == hi:
                self.single.add((net.version, lo))
            else:
                spans[net.version].append((lo, hi))
        for a in addrs:
            ip = _parse_ip(a)
            if ip is not None:
                self.single.add((ip.version, int(ip)))
        self.starts: dict[int, list[int]] = {}
        self.ends: dict[int, list[int]] = {}
        for version, items in spans.items():
            merged: list[list[int]] = []
            for lo, hi in sorted(items):
                if merged and lo <= merged[-1][1] + 1:
                    merged[-1][1] = max(merged[-1][1], hi)
                else:
                    merged.append([lo, hi])
            self.starts[version] = [m[0] for m in merged]
            self.ends[version] = [m[1] for m in merged]

    def __bool__(self) -> bool:
        return bool(self.single) or any(self.starts.values())

    def __contains__(self, text: object) -> bool:
        ip = _parse_ip(str(text))
        if ip is None:
            return False
        key = (ip.version, int(ip))
        if key in self.single:
            return True
        starts = self.starts.get(ip.version, [])
        i = bisect.bisect_right(starts, key[1]) - 1
        return i >= 0 and key[1] <= self.ends[ip.version][i]


def is_lb(addr: pd.Series, lb_networks: Sequence[Network | str] = (),
          lb_addrs: Collection[str] | Mapping[str, Collection[str]] = (),
          host: pd.Series | None = None) -> pd.Series:
    """True where ``addr`` is a load balancer or proxy: in ``lb_networks`` or ``lb_addrs``.

    ``lb_addrs`` is a collection (any host) or a mapping host → learned addresses, which
    then apply only to rows of that ``host`` (SPEC §6: learned load balancers are per
    nginx instance; ``--lb-cidr`` blocks apply everywhere).  Each distinct (host, address)
    is looked up once; unparsable addresses and nulls are never load balancers.
    """
    per_host = isinstance(lb_addrs, Mapping)
    common = AddressSet(lb_networks, () if per_host else lb_addrs)  # type: ignore[arg-type]
    learned = ({h: AddressSet((), a) for h, a in lb_addrs.items()}  # type: ignore[union-attr]
               if per_host else {})
    if not common and not learned:
        return pd.Series(False, index=addr.index, dtype=bool)
    hosts = (host.astype(object).fillna("").astype(str) if host is not None
             else pd.Series("", index=addr.index, dtype=object))
    keys = pd.DataFrame({"h": hosts.to_numpy(), "a": addr.astype(object).to_numpy()})
    hit = np.zeros(len(keys), dtype=bool)
    valid = keys["a"].notna().to_numpy()
    if valid.any():
        distinct = keys[valid].drop_duplicates()
        lookup = {(h, a): (a in common or (h in learned and a in learned[h]))
                  for h, a in zip(distinct["h"], distinct["a"].astype(str), strict=True)}
        hit[valid] = [lookup[(h, str(a))] for h, a in zip(keys["h"][valid], keys["a"][valid], strict=True)]
    return pd.Series(hit, index=addr.index)


def mark_load_balancers(failures: pd.DataFrame, lb_networks: Sequence[Network | str] = (),
                        lb_addrs: Collection[str] | Mapping[str, Collection[str]] = ()) -> pd.DataFrame:
    """Mark rows whose ``client_addr`` is a load balancer (``--lb-cidr`` or learned per host).

    The first judgement of the report-time chain (:mod:`logcorr.evidence`): such rows get
    ``attribution`` ``lb``, ``lb_addr`` = the address and ``client_is_real`` false, so that
    PROXY evidence (debug lines, captures) can name their real client next.  Rows a PROXY
    header already named are left alone.
    """
    if failures.empty or not (lb_networks or lb_addrs):
        return failures
    prior = _column(failures, "attribution").astype(object)
    lb = is_lb(_column(failures, "client_addr"), lb_networks, lb_addrs, failures.get("host"))
    lb &= ~prior.isin(_STRONG).to_numpy(dtype=bool)
    if not lb.any():
        return failures
    out = failures.copy()
    rows = lb.to_numpy(dtype=bool)
    if "lb_addr" not in out:
        out["lb_addr"] = pd.Series(pd.NA, index=out.index, dtype=pd.StringDtype())
    out.loc[rows, "lb_addr"] = out.loc[rows, "lb_addr"].fillna(out.loc[rows, "client_addr"])
    out.loc[rows, "attribution"] = "lb"
    out.loc[rows, "client_is_real"] = False
    return out


def client_side_only(failures: pd.DataFrame) -> pd.DataFrame:
    """Failures of client connections: rows with ``client_side`` false (upstream) are dropped.

    A null ``client_side`` counts as client side (most sources cannot be anything else).
    """
    if "client_side" not in failures or failures.empty:
        return failures
    return failures[_flag(failures["client_side"], True).to_numpy()]


def attribute(failures: pd.DataFrame, lb_networks: Sequence[Network | str] = (),
              lb_addrs: Collection[str] | Mapping[str, Collection[str]] = ()) -> pd.DataFrame:
    """Add ``attributable`` (bool) and refresh ``attribution`` (how the client was named).

    A failure is attributable when ``client_addr`` is the real client (SPEC §6): either a
    PROXY header named it (``pcap_proxy_header``, ``proxy_debug_line``: trusted even inside
    an ``--lb-cidr`` block), or it is not a load balancer (``lb_networks``, ``lb_addrs``)
    and the source did not mark it as one (``client_is_real`` false, ``attribution`` ``lb``;
    ``ambiguous_capture`` from :mod:`logcorr.attribution` alone does not make it one).
    Attributable rows keep the source's attribution when it names one, else get
    ``error_log_client`` (nginx), ``capture_peer`` (pcap) or ``log_client``; the others get
    ``unattributable_lb``, ``unattributable_ambiguous_capture`` or ``unattributable_no_client``.
    """
    out = failures.copy()
    client = _column(out, "client_addr").astype(object)
    prior = _column(out, "attribution").astype(object)
    source = _column(out, "source").astype(object).fillna("").astype(str)
    has_client = client.notna() & ~client.isin(["", "-"])
    lb = is_lb(client, lb_networks, lb_addrs, out.get("host"))
    says_real = _flag(_column(out, "client_is_real"), True)
    strong = prior.isin(_STRONG)
    marked = prior.isin(_LB_MARKERS)
    # "ambiguous_capture" says which capture connection is unknown, not that the client is:
    # a real error-log client stays attributable.
    attributable = has_client & (strong | (says_real & ~lb & (prior != "lb")))

    default = np.where(source.str.startswith("nginx"), "error_log_client",
                       np.where(source == "pcap", "capture_peer", "log_client"))
    keep = prior.notna() & ~marked & ~prior.astype(str).str.startswith("unattributable")
    how = np.where(keep, prior.astype(str), default)
    why_not = np.where(~has_client, "unattributable_no_client",
                       np.where(prior == "ambiguous_capture", "unattributable_ambiguous_capture",
                                "unattributable_lb"))
    out["attributable"] = attributable.to_numpy(dtype=bool)
    out["attribution"] = pd.array(np.where(attributable, how, why_not), dtype=pd.StringDtype())
    return out


def _strength(attribution: pd.Series, attributable: pd.Series) -> np.ndarray:
    rank = attribution.astype(object).map(ATTRIBUTION_STRENGTH).astype(float)
    rank = rank.fillna(_WEAKEST_ATTRIBUTABLE).to_numpy()
    return np.where(attributable.to_numpy(dtype=bool), rank, _UNATTRIBUTABLE)


def _copy_groups(df: pd.DataFrame) -> np.ndarray:
    """A group number per row: rows with the same number are copies of one nginx line.

    Rows of nginx sources with the same ``*N`` (``conn_id``), the same second, reason,
    ``server_addr`` (and ``host`` when there is one: ``*N`` is per instance) are one
    failure; every other row is a group of its own (negative numbers).
    """
    source = _column(df, "source").astype(object).fillna("").astype(str)
    conn = _column(df, "conn_id")
    eligible = source.str.startswith("nginx").to_numpy() & conn.notna().to_numpy()
    if "merged_into" in df:
        eligible &= df["merged_into"].isna().to_numpy()
    key = -1 - np.arange(len(df), dtype=np.int64)  # unique unless eligible
    if eligible.any():
        parts = pd.DataFrame({
            "host": _column(df, "host")[eligible].astype(object).fillna("").to_numpy(),
            "conn": conn[eligible].astype("int64").to_numpy(),
            "sec": _utc(df.loc[eligible, "ts"]).dt.floor("s").to_numpy(),
            "reason": _column(df, "reason")[eligible].astype(object).fillna("").to_numpy(),
            "server": _column(df, "server_addr")[eligible].astype(object).fillna("").to_numpy(),
        })
        key[eligible] = parts.groupby(["host", "conn", "sec", "reason", "server"], sort=True).ngroup()
    return key


def dedupe_failures(failures: pd.DataFrame) -> pd.DataFrame:
    """One row per failure when nginx wrote the same line to several error logs (SPEC §6).

    Rows of nginx sources of one ``host`` with the same ``*N`` (``conn_id``), the same
    second, reason and ``server_addr`` are one failure (``*N`` is unique for a master's lifetime, so two lines
    that agree on all four are copies: a server-level ``error_log`` beside the main one).
    The kept row is the one with the best attribution (:data:`ATTRIBUTION_STRENGTH`; run
    :func:`attribute` first), ties broken by file and line; its ``source`` becomes the
    merged sources (``a+b`` when they differ), ``copies`` counts the rows merged and
    ``seen_in`` names their files (``a, b``; ``a, … (n files)`` beyond two).  Rows without a
    ``conn_id`` cannot be told apart and are all kept.  :func:`correlate` keeps every row
    and links copies by ``failure_key`` instead (:func:`link_failures`).
    """
    if failures.empty:
        out = failures.copy()
        out["copies"] = pd.Series([], dtype="int64")
        out["seen_in"] = pd.Series([], dtype=pd.StringDtype())
        return out
    df = failures.reset_index(drop=True)
    attributable = _column(df, "attributable", True).astype(bool)
    rank = _strength(_column(df, "attribution"), attributable)
    source = _column(df, "source").astype(object).fillna("").astype(str)
    key = _copy_groups(df)
    file = _column(df, "file").astype(object).fillna("").astype(str)
    # Idempotent: rows merged by an earlier call keep their count and their files.
    seen = _column(df, "seen_in").astype(object).fillna(file).astype(str)
    before = _column(df, "copies", 1).astype("Int64").fillna(1).to_numpy(dtype="int64")
    work = pd.DataFrame({"key": key, "rank": rank, "file": file, "seen": seen, "before": before,
                         "line": _column(df, "line").astype("Float64").fillna(-1).to_numpy(),
                         "source": source})
    order = work.sort_values(["key", "rank", "file", "line"], kind="stable").index
    groups = work.groupby("key", sort=False)
    copies = groups["before"].transform("sum").to_numpy()
    first_file = groups["seen"].transform("min")
    last_file = groups["seen"].transform("max")
    n_files = groups["seen"].transform("nunique").to_numpy()
    seen_in = np.where(n_files <= 1, first_file,
                       np.where(n_files == 2, first_file + ", " + last_file,
                                first_file + ", … (" + pd.Series(n_files).astype(str) + " files)"))
    first_src = groups["source"].transform("min")
    last_src = groups["source"].transform("max")
    merged_src = np.where(first_src == last_src, first_src, first_src + "+" + last_src)
    out = df.copy()
    out["source"] = pd.array(merged_src, dtype=pd.StringDtype())
    out["copies"] = copies.astype("int64")
    out["seen_in"] = pd.array(seen_in, dtype=pd.StringDtype())
    kept = order[~work.loc[order, "key"].duplicated().to_numpy()]
    return out.loc[np.sort(kept)].reset_index(drop=True)


def _failure_ids(frame: pd.DataFrame) -> pd.Series:
    """``file:line`` (``host:file:line`` when rows carry a host); without them,
    ``source@time/client`` (stable across runs and orders).  Unique: a repeat gets ``#n``."""
    file = _column(frame, "file").astype(object)
    line = _column(frame, "line").astype("Int64")
    has = file.notna() & line.notna()
    host = _column(frame, "host").astype(object).fillna("").astype(str)
    prefix = np.where(host != "", host + ":", "")
    by_line = prefix + file.astype(str) + ":" + line.astype(str)
    by_time = (_column(frame, "source").astype(object).astype(str) + "@"
               + frame["ts"].astype(str) + "/" + _column(frame, "client_addr").astype(object).astype(str))
    ids = pd.Series(np.where(has.to_numpy(dtype=bool), by_line, by_time), index=frame.index)
    # a repeat is numbered in an order of what the rows say, not of how they were read
    order = pd.DataFrame({"id": ids, "ts": _utc(frame["ts"]),
                          "text": _column(frame, "reason_text").astype(object).fillna("").astype(str),
                          "client": _column(frame, "client_addr").astype(object).fillna("").astype(str)})
    order = order.sort_values(["id", "ts", "client", "text"], kind="stable")
    repeat = order.groupby("id").cumcount().reindex(ids.index)
    return ids.where(repeat == 0, ids + "#" + repeat.astype(str))


def link_failures(failures: pd.DataFrame) -> pd.DataFrame:
    """Add ``failure_id`` and ``failure_key``: rows that are one failure share the key (SPEC §4).

    The key is the ``failure_id`` of the failure's representative: the row that
    :mod:`logcorr.attribution` linked the others to (``merged_into``), or among copies of one
    nginx line (:func:`_copy_groups`) the best attributed (ties: file, line).  Run
    :func:`attribute` first.  Nothing is dropped.
    """
    f = failures.copy()
    f["ts"] = _utc(_column(f, "ts"))
    f["failure_id"] = _failure_ids(f)
    ids = f["failure_id"]
    into = _column(f, "merged_into")
    target = into.map(lambda label: ids.get(label) if label is not None and not pd.isna(label) else None)
    key = target.where(target.notna(), ids).astype(object)
    # copies of one nginx line: the best attributed represents them
    groups = _copy_groups(f)
    rank = _strength(_column(f, "attribution"), _column(f, "attributable", True).astype(bool))
    work = pd.DataFrame({"g": groups, "rank": rank,
                         "file": _column(f, "file").astype(object).fillna("").astype(str).to_numpy(),
                         "line": _column(f, "line").astype("Float64").fillna(-1).to_numpy(),
                         "id": ids.to_numpy()})
    best = work.sort_values(["g", "rank", "file", "line", "id"], kind="stable").groupby("g")["id"].first()
    grouped = pd.Series(work["g"].map(best).to_numpy(), index=f.index)
    key = key.where(key != ids, grouped)
    # follow links to the end (a copy linked to a row that was itself linked)
    lookup = dict(zip(ids, key, strict=True))
    for _ in range(4):
        nxt = key.map(lambda k: lookup.get(k, k))
        if nxt.equals(key):
            break
        key = nxt
    f["failure_key"] = key.astype(str)
    return f


def _lower_bounds(frame: pd.DataFrame) -> pd.Series:
    """Earliest session time that can recover each failure: its second for whole-second logs.

    nginx error-log times are whole seconds (``ts_precision_s`` 1.0, null for nginx
    sources counts as 1.0), so a session in the same second counts, even one that began
    a few hundred milliseconds "before" the failure's true time (SPEC §6).
    """
    source = _column(frame, "source").astype(object).fillna("").astype(str)
    precision = _column(frame, "ts_precision_s").astype("Float64")
    precision = precision.fillna(pd.Series(np.where(source.str.startswith("nginx"), 1.0, 0.0),
                                           index=frame.index))
    whole = precision.fillna(0.0).to_numpy(dtype=float) >= 1.0
    return frame["ts"].where(~whole, frame["ts"].dt.floor("s"))


FAILED_STREAM_STATUS = frozenset({400, 500})
"""Stream ``$status`` values that mark a failed session even with ``$ssl_protocol`` set
(nginx fills it once a ClientHello was read; nginx-logs.md §5, SPEC §6)."""


def completed_sessions(sessions: pd.DataFrame) -> pd.DataFrame:
    """Sessions whose handshake completed: stream lines with ``$status`` 400/500 are not."""
    if sessions.empty or "status" not in sessions:
        return sessions
    status = pd.to_numeric(sessions["status"], errors="coerce")
    stream = _column(sessions, "source").astype(object).fillna("").astype(str) == "nginx_stream"
    failed = stream.to_numpy(dtype=bool) & status.isin(FAILED_STREAM_STATUS).to_numpy(dtype=bool)
    return sessions[~failed]


def _good_sessions(sessions: pd.DataFrame, min_protocol: str) -> pd.DataFrame:
    """Sessions at ``min_protocol`` or above, one per (client, time): the best, deterministically."""
    sessions = completed_sessions(sessions)
    rank = _column(sessions, "ssl_protocol").astype(object).map(PROTOCOL_ORDER).astype(float)
    keep = (rank >= PROTOCOL_ORDER[min_protocol]) & _column(sessions, "client_addr").notna()
    keep &= _column(sessions, "ts").notna()
    s = pd.DataFrame({
        "client_addr": sessions.loc[keep, "client_addr"].astype(object).astype(str),
        "_s_ts": _utc(sessions.loc[keep, "ts"]),
        "_s_rank": rank[keep],
        "_s_protocol": _column(sessions, "ssl_protocol")[keep].astype(object),
        "_s_cipher": _column(sessions, "ssl_cipher")[keep].astype(object),
        "_s_file": _column(sessions, "file")[keep].astype(object).fillna("").astype(str),
        "_s_line": _column(sessions, "line")[keep].astype("Float64").fillna(-1).astype(float),
    })
    s = s.sort_values(["client_addr", "_s_ts", "_s_rank", "_s_file", "_s_line"],
                      ascending=[True, True, False, True, True], kind="stable")
    s = s.drop_duplicates(["client_addr", "_s_ts"], keep="first")
    return s.sort_values(["_s_ts", "client_addr"], kind="stable").reset_index(drop=True)


def correlate(failures: pd.DataFrame, sessions: pd.DataFrame, window_s: float,
              min_protocol: str = "TLSv1.2", lb_networks: Sequence[Network | str] = (),
              lb_addrs: Collection[str] | Mapping[str, Collection[str]] = (), *,
              hellos: pd.DataFrame | None = None, scanner_cidrs: Sequence[Network | str] = (),
              ignore_cidrs: Sequence[Network | str] = ()) -> pd.DataFrame:
    """One row per stored client-side failure row (columns of ``schema.MATCHES``): was it recovered?

    Rows that are one failure seen by several sources share ``failure_key``
    (:func:`link_failures`); the failure is judged once, on its representative row, and
    every row of it carries that judgement (``client_addr``, ``reason``, ``attribution``,
    ``ts``, ``class`` are the failure's; ``failure_id``, ``source``, ``file``, ``line`` the
    row's own).  Count failures by distinct ``failure_key``.  ``class`` comes from
    :func:`logcorr.classify.classify` (``hellos``, ``scanner_cidrs``, ``ignore_cidrs``).

    An attributable failure at ``t`` is recovered when the same ``client_addr`` has a
    completed session (:func:`completed_sessions`) with ``ssl_protocol`` ≥ ``min_protocol``
    at a time in ``[floor(t), t + window_s]`` (both ends included; ``floor`` only for
    whole-second sources, see :func:`_lower_bounds`).
    ``recovered_at``/``recovered_protocol``/``recovered_cipher`` describe the first such
    session; ``delay_s`` is ``recovered_at - t`` clamped at 0.0 (a session in the failure's
    second but before its logged time would be negative: the log cannot order them).
    Unattributable failures get ``recovered`` <NA> and are never matched.  Failures without
    a time cannot be placed and count as not recovered.  Each failure is judged on its own
    (one session may recover several); rows come out sorted by the failure's time, client,
    key, then the row's file and line.
    """
    from logcorr.classify import classify

    if min_protocol not in PROTOCOL_ORDER:
        raise LogcorrError(f"--min-protocol {min_protocol!r}: use one of {', '.join(PROTOCOL_ORDER)}")
    rows = link_failures(attribute(client_side_only(failures), lb_networks, lb_addrs))
    f = rows[(rows["failure_key"] == rows["failure_id"]).to_numpy(dtype=bool)].copy()
    f["_client"] = _column(f, "client_addr").astype(object)
    f["_file"] = _column(f, "file").astype(object).fillna("").astype(str)
    f["_line"] = _column(f, "line").astype("Float64").fillna(-1).astype(float)
    f = f.sort_values(["ts", "_client", "_file", "_line", "failure_id"], kind="stable",
                      na_position="last").reset_index(drop=True)
    n = len(f)
    attributable = f["attributable"].to_numpy(dtype=bool)
    recovered = pd.array([False if a else None for a in attributable], dtype="boolean")
    recovered_at = pd.Series(pd.NaT, index=f.index, dtype=_TS)
    protocol = pd.Series(pd.NA, index=f.index, dtype=pd.StringDtype())
    cipher = pd.Series(pd.NA, index=f.index, dtype=pd.StringDtype())

    todo = attributable & f["ts"].notna().to_numpy()
    good = _good_sessions(sessions, min_protocol)
    if todo.any() and not good.empty:
        left = pd.DataFrame({"_row": np.flatnonzero(todo),
                             "_lo": _lower_bounds(f)[todo].to_numpy(),
                             "_hi": (f["ts"] + pd.to_timedelta(float(window_s), unit="s"))[todo].to_numpy(),
                             "client_addr": f.loc[todo, "_client"].astype(str).to_numpy()})
        left["_lo"] = _utc(left["_lo"])
        left = left.sort_values(["_lo", "_row"], kind="stable")
        hit = pd.merge_asof(left, good, left_on="_lo", right_on="_s_ts", by="client_addr",
                            direction="forward", allow_exact_matches=True)
        hit = hit[hit["_s_ts"].notna() & (hit["_s_ts"] <= hit["_hi"])]
        hits = hit["_row"].to_numpy()
        recovered[hits] = True
        recovered_at.iloc[hits] = hit["_s_ts"].to_numpy()
        protocol.iloc[hits] = hit["_s_protocol"].astype(object).to_numpy()
        cipher.iloc[hits] = hit["_s_cipher"].astype(object).to_numpy()
    delay = ((recovered_at - f["ts"]).dt.total_seconds()).clip(lower=0.0).astype("float64")
    classes = classify(f.set_index(f["failure_key"].to_numpy()), rows, hellos=hellos,
                       scanner_cidrs=scanner_cidrs, ignore_cidrs=ignore_cidrs)
    judged = pd.DataFrame({
        "failure_key": f["failure_key"].to_numpy(),
        "_order": np.arange(n),
        "ts": f["ts"],
        "client_addr": _text(_column(f, "client_addr")),
        "reason": _text(_column(f, "reason")),
        "attributable": attributable,
        "attribution": _text(f["attribution"]),
        "recovered": pd.Series(recovered, index=f.index),
        "recovered_at": recovered_at,
        "delay_s": delay,
        "recovered_protocol": protocol,
        "recovered_cipher": cipher,
        "class": _text(pd.Series(classes["class"].to_numpy(), index=f.index)),
        "evidence": _text(pd.Series(classes["evidence"].to_numpy(), index=f.index)),
        "host": _text(_column(f, "host")),
    })
    own = pd.DataFrame({
        "failure_id": _text(rows["failure_id"]).to_numpy(),
        "failure_key": rows["failure_key"].to_numpy(),
        "source": _text(_column(rows, "source")).to_numpy(),
        "file": _text(_column(rows, "file")).to_numpy(),
        "line": _column(rows, "line").astype("Int64").to_numpy(),
    })
    out = own.merge(judged, on="failure_key", how="left", validate="many_to_one")
    out = out.sort_values(["_order", "file", "line", "failure_id"], kind="stable", na_position="last")
    for name in ("failure_id", "failure_key", "source", "file"):
        out[name] = _text(out[name])
    out["line"] = out["line"].astype("Int64")
    return out[MATCH_COLUMNS].reset_index(drop=True)

