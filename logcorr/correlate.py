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
import pyarrow as pa
import pyarrow.compute as pc

from logcorr.codes import (
    Blocks,
    arrow_strings,
    codes_in,
    epoch_us,
    in_spans,
    large_strings,
    lexorder,
    sort_codes,
    tie_broken_order,
)
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
    client = _column(out, "client_addr")
    prior = large_strings(_column(out, "attribution"))
    source = arrow_strings(_column(out, "source"))

    def flag(values: Any) -> np.ndarray:
        return np.asarray(values.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)

    def among(values: Any, options: Sequence[str]) -> Any:
        return pc.is_in(values, value_set=pa.array(list(options), pa.large_string()))

    has_client = client.notna().to_numpy(dtype=bool) & ~flag(among(arrow_strings(client), ["", "-"]))
    lb = is_lb(client.astype(object), lb_networks, lb_addrs, out.get("host")).to_numpy(dtype=bool)
    says_real = _flag(_column(out, "client_is_real"), True).to_numpy(dtype=bool)
    strong = flag(among(prior, _STRONG))
    # "ambiguous_capture" says which capture connection is unknown, not that the client is:
    # a real error-log client stays attributable.
    attributable = has_client & (strong | (says_real & ~lb & ~flag(pc.equal(prior, "lb"))))

    default = pc.if_else(flag(pc.starts_with(source, "nginx")), "error_log_client",
                         pc.if_else(flag(pc.equal(source, "pcap")), "capture_peer", "log_client"))
    keep = (flag(pc.is_valid(prior)) & ~flag(among(prior, _LB_MARKERS))
            & ~flag(pc.starts_with(prior, "unattributable")))
    how = pc.if_else(keep, prior, default)
    why_not = pc.if_else(~has_client, "unattributable_no_client",
                         pc.if_else(flag(pc.equal(prior, "ambiguous_capture")), "unattributable_ambiguous_capture",
                                    "unattributable_lb"))
    out["attributable"] = attributable
    out["attribution"] = pd.array(pc.if_else(attributable, how, why_not), dtype=pd.StringDtype())
    return out


def _strength(attribution: pd.Series, attributable: pd.Series) -> np.ndarray:
    rank = attribution.astype(object).map(ATTRIBUTION_STRENGTH).astype(float)
    rank = rank.fillna(_WEAKEST_ATTRIBUTABLE).to_numpy()
    return np.where(attributable.to_numpy(dtype=bool), rank, _UNATTRIBUTABLE)


def _copy_groups(df: pd.DataFrame) -> np.ndarray:
    """A group number per row: rows with the same number are copies of one nginx line.

    Rows of nginx sources with the same ``*N`` (``conn_id``), the same second, reason,
    ``server_addr`` (and ``host`` when there is one: ``*N`` is per instance) are one
    failure; every other row is a group of its own (negative numbers).  Only rows whose
    (host, ``*N``) occurs twice can be copies, so only they are grouped on all five.
    """
    source = arrow_strings(_column(df, "source"))
    conn = _column(df, "conn_id")
    eligible = pc.starts_with(source, "nginx").fill_null(False).to_numpy(zero_copy_only=False)
    eligible = eligible & conn.notna().to_numpy()
    if "merged_into" in df:
        eligible &= df["merged_into"].isna().to_numpy()
    key = -1 - np.arange(len(df), dtype=np.int64)  # unique unless eligible
    rows = np.flatnonzero(eligible)
    if not len(rows):
        return key
    us, has_ts = epoch_us(df["ts"].iloc[rows])
    # a row without a time has no second to share: no other row can be shown to be its copy
    rows = rows[has_ts]
    pair = pd.DataFrame({"host": sort_codes(_column(df, "host").iloc[rows].astype(object).fillna("")),
                         "conn": conn.iloc[rows].astype("int64").to_numpy()})
    dup = pair.duplicated(keep=False).to_numpy()
    key[rows[~dup]] = np.arange(int((~dup).sum()), dtype=np.int64)
    rows = rows[dup]
    if len(rows):
        parts = pd.DataFrame({
            "host": _column(df, "host").iloc[rows].astype(object).fillna("").to_numpy(),
            "conn": conn.iloc[rows].astype("int64").to_numpy(),
            "sec": us[has_ts][dup] - us[has_ts][dup] % 1_000_000,
            "reason": _column(df, "reason").iloc[rows].astype(object).fillna("").to_numpy(),
            "server": _column(df, "server_addr").iloc[rows].astype(object).fillna("").to_numpy(),
        })
        key[rows] = int((~dup).sum()) + parts.groupby(["host", "conn", "sec", "reason", "server"],
                                                        sort=False).ngroup().to_numpy()
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
    file = _column(frame, "file")
    line = _column(frame, "line").astype("Int64")
    has = (file.notna() & line.notna()).to_numpy(dtype=bool)
    host = _arrow_text(_column(frame, "host")).fill_null("")
    colon, empty = pa.scalar(":", pa.large_string()), pa.scalar("", pa.large_string())
    prefix = pc.if_else(pc.not_equal(host, ""), pc.binary_join_element_wise(host, colon, empty), empty)
    line_text = pc.cast(pa.array(line.array), pa.large_string())
    by_line = pc.binary_join_element_wise(prefix, _arrow_text(file), colon, line_text, empty)
    ids = pd.Series(pd.array(by_line, dtype="str"), index=frame.index)
    if not has.all():
        ids[~has] = _ids_by_time(frame, ~has)
    dup = ids.duplicated(keep=False).to_numpy()
    if not dup.any():
        return ids
    # a repeat is numbered in an order of what the rows say, not of how they were read
    sub = frame[dup]
    order = pd.DataFrame({"id": ids[dup], "ts": _utc(sub["ts"]),
                          "text": _column(sub, "reason_text").astype(object).fillna("").astype(str),
                          "client": _column(sub, "client_addr").astype(object).fillna("").astype(str)})
    order = order.sort_values(["id", "ts", "client", "text"], kind="stable")
    own = ids[dup]
    repeat = order.groupby("id").cumcount().reindex(own.index)
    ids[dup] = own.where(repeat == 0, own + "#" + repeat.astype(str))
    return ids


def _ids_by_time(frame: pd.DataFrame, rows: np.ndarray) -> pd.Series:
    """``source@time/client`` of ``rows``, the time written as the whole column would write
    it (pandas gives every element of an array the precision its finest element needs)."""
    ts = _utc(frame["ts"])
    us, valid = epoch_us(ts)
    finest = [int(np.flatnonzero(valid & (us % step != 0))[0]) for step in (1_000_000, 1_000)
              if (valid & (us % step != 0)).any()]
    picked = np.concatenate([np.flatnonzero(rows), finest]).astype(np.int64)
    sub = frame[rows]
    when = ts.iloc[picked].astype(str).iloc[: len(sub)].set_axis(sub.index)
    return (_column(sub, "source").astype(object).astype(str) + "@" + when
            + "/" + _column(sub, "client_addr").astype(object).astype(str))


def _arrow_text(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    """``values.astype(object).astype(str)`` as Arrow strings (nulls stay null), without
    Python objects when the column holds strings already."""
    if isinstance(values.dtype, pd.StringDtype):
        return large_strings(values)
    return large_strings(values.astype(object).astype(str))


def link_failures(failures: pd.DataFrame) -> pd.DataFrame:
    """Add ``failure_id`` and ``failure_key``: rows that are one failure share the key (SPEC §4).

    The key is the ``failure_id`` of the failure's representative: the row that
    :mod:`logcorr.attribution` linked the others to (``merged_into``), or among copies of one
    nginx line (:func:`_copy_groups`) the best attributed (ties: file, line).  Run
    :func:`attribute` first.  Nothing is dropped.  Links are followed as row positions.
    """
    f = failures.copy()
    f["ts"] = _utc(_column(f, "ts"))
    f["failure_id"] = _failure_ids(f)
    ids = f["failure_id"]
    if not f.index.is_unique or ids.isna().any() or not ids.is_unique:
        from logcorr._reference import link_failures as by_rows

        return by_rows(failures)
    n = len(f)
    own = np.arange(n)
    into = _column(f, "merged_into")
    pos = own.copy()
    linked = into.notna().to_numpy(dtype=bool)
    if linked.any():
        target = f.index.get_indexer(into[linked].to_numpy(dtype=object))
        pos[np.flatnonzero(linked)[target >= 0]] = target[target >= 0]
    # copies of one nginx line: the best attributed represents them
    groups = _copy_groups(f)
    best = _best_of_groups(f, groups, ids)
    pos = np.where(pos == own, best, pos)
    # follow links to the end (a copy linked to a row that was itself linked)
    for _ in range(4):
        nxt = pos[pos]
        if np.array_equal(nxt, pos):
            break
        pos = nxt
    f["failure_key"] = pd.Series(ids.array.take(pos), index=f.index).astype(str)
    return f


def _best_of_groups(f: pd.DataFrame, groups: np.ndarray, ids: pd.Series) -> np.ndarray:
    """Position of each row's group representative: best rank, then file, line, id."""
    best = np.arange(len(f))
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    rows = np.flatnonzero(counts[inverse] > 1)
    if not len(rows):
        return best
    sub = f.iloc[rows]
    rank = _strength(_column(sub, "attribution"), _column(sub, "attributable", True).astype(bool))
    order = lexorder([groups[rows], rank, sort_codes(_column(sub, "file").astype(object).fillna("").astype(str)),
                      _column(sub, "line").astype("Float64").fillna(-1).to_numpy(dtype=float),
                      sort_codes(ids.iloc[rows])])
    g = groups[rows][order]
    first = np.r_[True, g[1:] != g[:-1]]
    winner = rows[order][first]
    best[rows[order]] = np.repeat(winner, np.diff(np.r_[np.flatnonzero(first), len(g)]))
    return best


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
    failed = _failed_stream(sessions)
    return sessions[~failed] if failed.any() else sessions


def _failed_stream(sessions: pd.DataFrame) -> np.ndarray:
    """True on stream lines whose ``$status`` says the handshake failed (400/500)."""
    failed = np.zeros(len(sessions), dtype=bool)
    if sessions.empty or "status" not in sessions:
        return failed
    stream = pc.equal(arrow_strings(_column(sessions, "source")), "nginx_stream")
    stream = stream.fill_null(False).to_numpy(zero_copy_only=False)
    if stream.any():
        status = pd.to_numeric(sessions["status"][stream], errors="coerce")
        failed[stream] = status.isin(FAILED_STREAM_STATUS).to_numpy(dtype=bool)
    return failed


def _protocol_rank(protocol: pd.Series) -> np.ndarray:
    """:data:`PROTOCOL_ORDER` rank of each ``ssl_protocol`` (NaN for others), by distinct value."""
    codes, uniques = pd.factorize(protocol)
    ranks = np.array([PROTOCOL_ORDER.get(u, np.nan) if isinstance(u, str) else np.nan for u in uniques] + [np.nan])
    return ranks[codes]


def _good_sessions(sessions: pd.DataFrame, min_protocol: str, names: np.ndarray, probe_code: np.ndarray,
                   lo: np.ndarray, hi: np.ndarray) -> tuple[Blocks, np.ndarray]:
    """Completed sessions at ``min_protocol`` or above of the clients ``names``, one per
    (client, time): the best (highest protocol, then file and line, then the first row).

    Only sessions inside their client's span of failure windows (``probe_code``, ``lo``,
    ``hi``: each failure's client code and bounds in µs) can recover one: the others are
    dropped before sorting.  Returns the :class:`Blocks` of the rest and, per sorted block
    row, the session's row position in ``sessions``.
    """
    code = codes_in(_column(sessions, "client_addr"), names)
    us, has_ts = epoch_us(_column(sessions, "ts"))
    keep = np.flatnonzero(in_spans(code, us, probe_code, lo, hi) & has_ts)
    rank = _protocol_rank(_column(sessions, "ssl_protocol").iloc[keep])
    good = rank >= PROTOCOL_ORDER[min_protocol]
    keep, rank = keep[good], rank[good]
    good = ~_failed_stream(sessions[[c for c in ("source", "status") if c in sessions]].iloc[keep])
    keep, rank = keep[good], rank[good]
    blocks = Blocks(code[keep], us[keep], lo)
    order = blocks.order
    same = blocks.key[1:] == blocks.key[:-1]
    if same.any():
        # several sessions of one client at one instant: the best first, as a stable sort would
        tied = np.flatnonzero(np.r_[same, False] | np.r_[False, same])
        rows = keep[order[tied]]
        sub = sessions[[c for c in ("file", "line") if c in sessions]].iloc[rows]
        best = lexorder([blocks.key[tied], -rank[order[tied]],
                         sort_codes(_column(sub, "file").astype(object).fillna("").astype(str)),
                         _column(sub, "line").astype("Float64").fillna(-1).to_numpy(dtype=float), rows])
        order[tied] = order[tied][best]
    first = np.ones(len(blocks.key), dtype=bool)
    first[1:] = ~same
    blocks.restrict(first)
    return blocks, keep[order[first]]


def _recoveries(f: pd.DataFrame, todo: np.ndarray, ts_us: np.ndarray, sessions: pd.DataFrame,
                window_s: float, min_protocol: str) -> tuple[np.ndarray, np.ndarray]:
    """(rows of ``f`` recovered, the ``sessions`` row that recovered each).

    Each failure's client is a block of the sorted good sessions; the first session at or
    after the failure's lower bound (:func:`_lower_bounds`) is one ``searchsorted`` away,
    and it recovers the failure when it is not later than ``t + window_s``.
    """
    rows = np.flatnonzero(todo)
    if not len(rows) or sessions.empty:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    code, uniques = pd.factorize(_column(f, "client_addr").iloc[rows])
    names = np.asarray(pd.Index(uniques).astype(object).astype(str), dtype=object)
    lo = _lower_us(f[[c for c in ("source", "ts_precision_s") if c in f]].iloc[rows], ts_us[rows])
    window_ns = int(pd.to_timedelta(float(window_s), unit="s").value)
    hi = ts_us[rows] + window_ns // 1000  # s * 1000 <= t * 1000 + window_ns, in whole µs
    blocks, session_row = _good_sessions(sessions, min_protocol, names, code, lo, hi)
    pos = np.searchsorted(blocks.key, blocks.key_of(code, lo), side="left")
    at_code, at_us = blocks.at(pos)
    hit = (at_code == code) & (at_us <= hi)
    return rows[hit], session_row[pos[hit]]


def _lower_us(frame: pd.DataFrame, ts_us: np.ndarray) -> np.ndarray:
    """:func:`_lower_bounds` in µs: the failure's second for whole-second sources."""
    nginx = pc.starts_with(arrow_strings(_column(frame, "source")), "nginx").fill_null(False)
    precision = _column(frame, "ts_precision_s").astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    precision = np.where(np.isnan(precision), np.where(nginx.to_numpy(zero_copy_only=False), 1.0, 0.0), precision)
    return np.where(precision >= 1.0, ts_us - ts_us % 1_000_000, ts_us)


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
    reps = (rows["failure_key"] == rows["failure_id"]).to_numpy(dtype=bool)
    f = rows[[c for c in _JUDGED_FROM if c in rows]]
    f = f if reps.all() else f[reps]
    order = _judging_order(f)
    f = _take(f, order).reset_index(drop=True)
    n = len(f)
    rep_of_row = np.full(len(rows), -1, dtype=np.int64)
    rep_of_row[np.flatnonzero(reps)[order]] = np.arange(n)
    attributable = f["attributable"].to_numpy(dtype=bool)
    ts_us, has_ts = epoch_us(f["ts"])
    hits, by = _recoveries(f, attributable & has_ts, ts_us, sessions, window_s, min_protocol)
    recovered = pd.arrays.BooleanArray(np.zeros(n, dtype=bool), ~attributable)
    recovered[hits] = True
    at_us = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    at_us[hits] = epoch_us(_column(sessions, "ts").iloc[by])[0]
    recovered_at = pd.Series(pd.array(at_us.view("datetime64[us]"), dtype="datetime64[us]")).dt.tz_localize("UTC")
    delay = ((recovered_at - f["ts"]).dt.total_seconds()).clip(lower=0.0).astype("float64")
    classes = classify(f.set_index(f["failure_key"].to_numpy()), rows, hellos=hellos,
                       scanner_cidrs=scanner_cidrs, ignore_cidrs=ignore_cidrs)
    judged = pd.DataFrame({
        "ts": f["ts"],
        "client_addr": _text(_column(f, "client_addr")),
        "reason": _text(_column(f, "reason")),
        "attributable": attributable,
        "attribution": _text(f["attribution"]),
        "recovered": pd.Series(recovered, index=f.index),
        "recovered_at": recovered_at,
        "delay_s": delay,
        "recovered_protocol": _picked(_column(sessions, "ssl_protocol"), n, hits, by),
        "recovered_cipher": _picked(_column(sessions, "ssl_cipher"), n, hits, by),
        "class": _text(pd.Series(classes["class"].to_numpy(), index=f.index)),
        "evidence": _text(pd.Series(classes["evidence"].to_numpy(), index=f.index)),
        "host": _text(_column(f, "host")),
    })
    return _per_row(rows, f, judged, rep_of_row)


_JUDGED_FROM = ["failure_id", "failure_key", "ts", "source", "client_addr", "reason", "reason_text",
                "attributable", "attribution", "host", "file", "line", "ts_precision_s"]
"""The columns of a failure's representative row that its judgement reads (classify included)."""


def _judging_order(f: pd.DataFrame) -> np.ndarray:
    """Positions of the failures in the order they are judged and listed: time, client, file,
    line, ``failure_id`` (missing values last)."""
    us, valid = epoch_us(f["ts"])
    keys = [np.where(valid, us, np.iinfo(np.int64).max), sort_codes(_column(f, "client_addr").array),
            sort_codes(_column(f, "file").astype(object).fillna("").astype(str).array),
            _column(f, "line").astype("Float64").fillna(-1).to_numpy(dtype=float)]
    return tie_broken_order(keys, lambda: sort_codes(f["failure_id"].array))


def _picked(values: pd.Series, n: int, hits: np.ndarray, by: np.ndarray) -> pd.Series:
    """Text of ``values`` at rows ``by`` placed at ``hits`` of an otherwise missing column
    (Arrow takes of the picked rows only: no Python strings)."""
    if not len(hits):
        return pd.Series(pd.array([None] * n, dtype=pd.StringDtype()))
    at = np.zeros(n, dtype=np.int64)
    at[hits] = np.arange(len(hits))
    missing = np.ones(n, dtype=bool)
    missing[hits] = False
    picked = arrow_strings(values.iloc[by].reset_index(drop=True))
    return pd.Series(pd.array(picked.take(pa.array(at, mask=missing)), dtype=pd.StringDtype()))


def _take(frame: Any, positions: np.ndarray) -> Any:
    """``frame.iloc[positions]``, without the copy when the positions are every row in order."""
    if len(positions) == len(frame) and np.array_equal(positions, np.arange(len(frame))):
        return frame
    return frame.iloc[positions]


def _per_row(rows: pd.DataFrame, f: pd.DataFrame, judged: pd.DataFrame, rep: np.ndarray) -> pd.DataFrame:
    """Every stored row with its failure's judgement (``judged``: one row per ``f`` row), in
    the failures' order, then the row's file, line and ``failure_id``.

    ``rep``: each row's position in ``f`` when it is a representative, else -1 (those rows
    are looked up by ``failure_key``).
    """
    rep = rep.copy()
    others = np.flatnonzero(rep < 0)
    if len(others):
        rep[others] = codes_in(rows["failure_key"].iloc[others], f["failure_key"].to_numpy(dtype=object))
    file = _text(_column(rows, "file"))
    line = _column(rows, "line").astype("Int64")
    fid = _text(rows["failure_id"])
    keys = [np.where(rep >= 0, rep, len(f)), sort_codes(file.array),
            line.to_numpy(dtype=float, na_value=np.inf)]
    order = tie_broken_order(keys, lambda: sort_codes(fid.array))
    take = rep[order]
    picked = _take(judged, take) if (take >= 0).all() else judged.reindex(take)
    out = picked.reset_index(drop=True)
    out["failure_id"] = _take(fid, order).reset_index(drop=True)
    out["failure_key"] = _take(_text(rows["failure_key"]), order).reset_index(drop=True)
    out["source"] = _take(_text(_column(rows, "source")), order).reset_index(drop=True)
    out["file"] = _take(file, order).reset_index(drop=True)
    out["line"] = _take(line, order).reset_index(drop=True)
    return out[MATCH_COLUMNS]

