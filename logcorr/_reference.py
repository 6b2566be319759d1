"""The pure pandas failure side, as it was before issue 11.4: the reference the fast path is tested against.

:func:`logcorr.correlate.correlate`, :func:`logcorr.correlate.link_failures`,
:func:`logcorr.classify.classify` and :func:`logcorr.sequence.preceded_by` compute the
same frames with integer codes and sorted searches (1M failures, 10M sessions in seconds);
these are the straightforward versions, row by row where the rule is row by row.  Tests
(``tests/test_fast_reference.py``) compare both on seeded random inputs and on the fixtures;
nothing in the report calls this module.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from logcorr.classify import (
    _INCOMPATIBLE,
    NO_BYTE_TEXTS,
    NO_BYTES_ACTION,
    PROXY_LOCAL_ACTION,
    SCANNER_BURST_S,
    SCANNER_MIN_FAILURES,
    SCANNER_MIN_INCOMPATIBLE,
    SCANNER_MIN_REASONS,
    _col,
    in_networks,
    networks,
    probes,
)
from logcorr.correlate import (
    _LB_MARKERS,
    _STRONG,
    _TS,
    MATCH_COLUMNS,
    PROTOCOL_ORDER,
    Network,
    _column,
    _flag,
    _lower_bounds,
    _strength,
    _text,
    _utc,
    client_side_only,
    completed_sessions,
    is_lb,
)
from logcorr.errors import LogcorrError
from logcorr.sequence import COLUMNS, LOOKBACK_S, _first_attempts


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
    eligible &= _utc(_column(df, "ts")).notna().to_numpy()  # no time, no second to share
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


def health_checks(reps: pd.DataFrame, rows: pd.DataFrame) -> pd.Series:
    """True per representative (indexed by ``failure_key``) when the failure is a health check.

    ``rows`` are all the failure rows with their ``failure_key``: a capture row in the
    group decides (marked: yes; unmarked: the capture saw bytes, no); else the logs rule.
    """
    action = _col(rows, "action").fillna("").astype(str)
    pcap = _col(rows, "source").fillna("").astype(str) == "pcap"
    marked = pcap & action.isin([NO_BYTES_ACTION, PROXY_LOCAL_ACTION])
    key = rows["failure_key"].astype(str)
    has_pcap = pcap.groupby(key).any()
    has_mark = marked.groupby(key).any()
    text = _col(reps, "reason_text").fillna("").astype(str).str.strip()
    source = _col(reps, "source").fillna("").astype(str)
    by_logs = source.str.startswith("nginx") & text.str.startswith(NO_BYTE_TEXTS)
    idx = reps.index.astype(str)
    seen = has_pcap.reindex(idx, fill_value=False).to_numpy(dtype=bool)
    mark = has_mark.reindex(idx, fill_value=False).to_numpy(dtype=bool)
    return pd.Series(np.where(seen, mark, by_logs.to_numpy(dtype=bool)), index=reps.index, dtype=bool)


def _bursts(frame: pd.DataFrame) -> dict[str, str]:
    """Clients whose failures form a scanner burst, with the evidence as a sentence."""
    out: dict[str, str] = {}
    if frame.empty:
        return out
    df = frame.sort_values(["_c", "ts"], kind="stable")
    for client, g in df.groupby("_c", sort=True):
        if len(g) < SCANNER_MIN_FAILURES:
            continue
        t = g["ts"].to_numpy(dtype="datetime64[us]").astype("int64") / 1e6
        reasons = g["reason"].astype(str).to_numpy()
        hi = np.searchsorted(t, t + SCANNER_BURST_S, side="right")
        for lo in np.flatnonzero(hi - np.arange(len(t)) >= SCANNER_MIN_FAILURES):
            kinds = sorted(set(reasons[lo:hi[lo]]))
            if len(kinds) >= SCANNER_MIN_REASONS or len(_INCOMPATIBLE.intersection(kinds)) >= SCANNER_MIN_INCOMPATIBLE:
                span = t[hi[lo] - 1] - t[lo]
                out[str(client)] = (f"{hi[lo] - lo} failures of {len(kinds)} reasons "
                                    f"({', '.join(kinds)}) within {round(float(span), 1):g} s")
                break
    return out


def classify(reps: pd.DataFrame, rows: pd.DataFrame, *, hellos: pd.DataFrame | None = None,
             scanner_cidrs: Sequence[str | Network] = (),
             ignore_cidrs: Sequence[str | Network] = ()) -> pd.DataFrame:
    """``class`` and ``evidence`` per failure.

    ``reps``: one row per failure (indexed by ``failure_key``) with ``ts``, ``client_addr``,
    ``attributable``, ``reason``, ``reason_text``, ``source``; ``rows``: every failure row
    with its ``failure_key`` (for the capture's say on health checks); ``hellos``: the
    ``client_hellos`` table when a capture was ingested.
    """
    n = len(reps)
    cls = np.array(["client"] * n, dtype=object)
    evidence = np.array([None] * n, dtype=object)
    if n == 0:
        return pd.DataFrame({"class": pd.Series([], dtype=object), "evidence": pd.Series([], dtype=object)},
                            index=reps.index)
    client = _col(reps, "client_addr")
    attributable = reps["attributable"].astype(bool).to_numpy()
    ignored = in_networks(client, networks(ignore_cidrs)).to_numpy()
    listed = in_networks(client, networks(scanner_cidrs)).to_numpy() & attributable
    health = health_checks(reps, rows).to_numpy(dtype=bool)
    todo = np.ones(n, dtype=bool)

    def assign(mask: np.ndarray, name: str, why: Any) -> None:
        nonlocal todo
        hit = mask & todo
        cls[hit] = name
        evidence[hit] = why[hit] if isinstance(why, np.ndarray) else why
        todo = todo & ~hit

    assign(ignored, "ignored", "listed with --ignore")
    assign(listed, "scanner", "listed with --scanner")
    text = _col(reps, "reason_text").fillna("").astype(str).to_numpy()
    assign(health, "health_check", text)
    left = pd.DataFrame({"_c": client.astype(str).to_numpy(), "ts": reps["ts"].to_numpy(),
                         "reason": _col(reps, "reason").fillna("other").to_numpy()},
                        index=np.arange(n))[todo & attributable]
    found = _bursts(left)
    for who, why in probes(hellos).items():
        found[who] = why if who not in found else f"{found[who]}; {why}"
    names = client.astype(str).to_numpy()
    by_behaviour = np.array([c in found for c in names]) & attributable
    # a scanner's own connect-then-close probes are part of its scan, not health checks
    todo = todo | (by_behaviour & (cls == "health_check"))
    assign(by_behaviour, "scanner", np.array([found.get(c) for c in names], dtype=object))
    return pd.DataFrame({"class": cls, "evidence": evidence}, index=reps.index)


def preceded_by(matches: pd.DataFrame, sessions: pd.DataFrame,
                hellos: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per attributable failure of ``matches`` (columns :data:`COLUMNS`).

    ``matches``: ``failure_id``, ``ts``, ``client_addr``, ``reason``, ``attributable``,
    ``file``, ``line`` (the ``matches`` table; rows with one ``failure_key`` count once);
    ``sessions``: ``ts``, ``client_addr``; ``hellos``: ``client_hellos`` rows or None.
    """
    f = matches[matches["attributable"].astype("boolean").fillna(False).astype(bool)
                & matches["ts"].notna() & matches["client_addr"].notna()]
    if "failure_key" in f:  # copies of one failure (several sources) are one attempt
        f = f.drop_duplicates("failure_key")
    if f.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    clients = set(f["client_addr"].astype(str))
    fa = pd.DataFrame({"client": f["client_addr"].astype(str).to_numpy(), "ts": _utc(f["ts"]).to_numpy(),
                       "kind": f["reason"].astype(object).fillna("other").to_numpy(), "order": 1,
                       "file": f["file"].astype(object).fillna("").astype(str).to_numpy() if "file" in f else "",
                       "line": f["line"].astype("Float64").fillna(-1).to_numpy(dtype=float) if "line" in f else -1.0,
                       "fid": np.arange(len(f))})
    s = sessions[sessions["client_addr"].astype(object).isin(list(clients)) & sessions["ts"].notna()]
    se = pd.DataFrame({"client": s["client_addr"].astype(str).to_numpy(), "ts": _utc(s["ts"]).to_numpy(),
                       "kind": "success", "order": 2, "file": "", "line": -1.0, "fid": -1})
    # at one instant a failure sorts before a session: the logs cannot say the session came first
    events = pd.concat([fa, se] if len(se) else [fa], ignore_index=True)
    events["ts"] = _utc(events["ts"])
    events = events.sort_values(
        ["client", "ts", "order", "file", "line"], kind="stable").reset_index(drop=True)
    g = events.groupby("client", sort=False)
    events["prev_kind"] = g["kind"].shift(1)
    events["prev_ts"] = g["ts"].shift(1)
    mine = events[events["order"] == 1].copy()
    gap = (mine["ts"] - mine["prev_ts"]).dt.total_seconds()
    seen = mine["prev_kind"].notna() & (gap <= LOOKBACK_S)
    out = pd.DataFrame({
        "failure_id": f["failure_id"].astype(str).to_numpy()[mine["fid"].to_numpy(dtype=int)],
        "reason": mine["kind"].to_numpy(),
        "preceded_by": np.where(seen, mine["prev_kind"].astype(object), "none_seen"),
        "previous_gap_s": np.where(seen, gap, np.nan),
        "_client": mine["client"].to_numpy(), "_ts": mine["ts"].to_numpy(),
        "_reason": mine["kind"].to_numpy(),
    })
    out = _first_attempts(out, hellos)
    return out[COLUMNS].reset_index(drop=True)
