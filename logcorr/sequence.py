"""What came just before each failure from the same client (SPEC §7 ``preceded_by``).

A fallback is the second attempt of a sequence: the client's first attempt at its best
version failed in the network (reset, FIN, timeout) and it retried lower with
TLS_FALLBACK_SCSV (``reference/client-fallback.md`` §5, §8.3).  For every attributable
failure this module finds the same real client's previous attempt within
:data:`LOOKBACK_S` seconds before it: an earlier failure (its reason code), a session
(``success``), or ``none_seen`` when no earlier attempt reached the logs.  With a capture,
the failure's own connection is found among the captured hellos (the nearest one in time,
within :data:`OWN_HELLO_TOLERANCE_S`) and the connection before it is the *first attempt*:
its offered version and how it ended (``RST``, ``FIN``, ``timeout`` or the alert).

Ordering rules where the logs cannot order events: nginx error-log times are whole
seconds, so failures are ordered by (time, file, line) (nginx writes its log in order);
a session in the same instant as a failure is not counted as before it.  Pure functions,
pandas in and out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from logcorr.codes import Blocks, arrow_strings, codes_in, epoch_us, in_spans, lexorder, sort_codes
from logcorr.profile import normalize_protocol, protocol_rank
from logcorr.reasons import FAMILY

LOOKBACK_S = 10.0
OWN_HELLO_TOLERANCE_S = 1.5  # error-log second (1 s) plus clock slack between sources
QUICK_S = 2.0  # "within 2 s" in the summary sentence
ENDINGS = {"reset": "RST", "closed": "FIN", "incomplete": "timeout", "timeout": "timeout"}
# a captured connection's outcome as the reason code its failure row gets (SPEC §5)
_AS_REASON = {"reset": "peer_closed", "closed": "peer_closed", "incomplete": "timeout"}
COLUMNS = ["failure_id", "reason", "preceded_by", "previous_gap_s", "first_attempt_version", "first_attempt_end",
           "first_attempt_gap_s"]
_TS = "datetime64[us, UTC]"


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).astype(_TS)


def _hello_version(row: Any) -> str | None:
    versions = [v for v in (normalize_protocol(str(x)) for x in (row.versions if isinstance(
        getattr(row, "versions", None), (list, tuple, np.ndarray)) else [])) if v]
    if versions:
        return max(versions, key=protocol_rank)
    return normalize_protocol(str(getattr(row, "hello_version", "") or ""))


def preceded_by(matches: pd.DataFrame, sessions: pd.DataFrame,
                hellos: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per attributable failure of ``matches`` (columns :data:`COLUMNS`).

    ``matches``: ``failure_id``, ``ts``, ``client_addr``, ``reason``, ``attributable``,
    ``file``, ``line`` (the ``matches`` table; rows with one ``failure_key`` count once);
    ``sessions``: ``ts``, ``client_addr``; ``hellos``: ``client_hellos`` rows or None.
    Rows come out by client, time, file and line.  The previous event of a failure is the
    later of the client's previous failure in that order and its last session strictly
    before it (one ``searchsorted`` in the client's block of sorted sessions).
    """
    f = matches[matches["attributable"].astype("boolean").fillna(False).astype(bool)
                & matches["ts"].notna() & matches["client_addr"].notna()]
    if "failure_key" in f:  # copies of one failure (several sources) are one attempt
        f = f.drop_duplicates("failure_key")
    if f.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    code, uniques = pd.factorize(f["client_addr"], sort=True)
    names = np.asarray(pd.Index(uniques).astype(object).astype(str), dtype=object)
    us, _ = epoch_us(f["ts"])
    file = sort_codes(f["file"].astype(object).fillna("").astype(str).array) if "file" in f else np.zeros(len(f))
    line = f["line"].astype("Float64").fillna(-1).to_numpy(dtype=float) if "line" in f else np.zeros(len(f))
    order = lexorder([code, us, file, line])
    code, us = code[order], us[order]
    kind = arrow_strings(f["reason"]).fill_null("other").take(order)
    # the client's previous failure, in that order
    prev = np.r_[False, code[1:] == code[:-1]]
    prev_us = np.r_[0, us[:-1]]
    # its last session before the failure (at one instant a failure sorts before a session:
    # the logs cannot say the session came first); a session more than LOOKBACK_S before
    # every failure of its client can only be a previous event too old to count
    s_code = codes_in(sessions["client_addr"], names)
    s_us, s_valid = epoch_us(sessions["ts"])
    keep = in_spans(s_code, s_us, code, us - int(LOOKBACK_S * 1_000_000), us - 1) & s_valid
    blocks = Blocks(s_code[keep], s_us[keep], us, keep_order=False)
    at_code, at_us = blocks.at(np.searchsorted(blocks.key, blocks.key_of(code, us), side="left") - 1)
    session = (at_code == code) & (~prev | (at_us >= prev_us))
    prev_us = np.where(session, at_us, prev_us)
    gap = (us - prev_us) / 1_000_000
    seen = (prev | session) & (gap <= LOOKBACK_S)
    prev_kind = pc.if_else(pa.array(session), "success", kind.take(np.maximum(np.arange(len(us)) - 1, 0)))
    out = pd.DataFrame({
        "failure_id": pd.array(arrow_strings(f["failure_id"].astype(str)).take(order), dtype="str"),
        "reason": pd.array(kind, dtype="str"),
        "preceded_by": pd.array(pc.if_else(pa.array(seen), prev_kind, "none_seen"), dtype="str"),
        "previous_gap_s": np.where(seen, gap, np.nan),
    })
    if hellos is not None and len(hellos):
        out["_client"] = names[code]
        out["_ts"] = pd.Series(us.view("datetime64[us]")).dt.tz_localize("UTC")
        out["_reason"] = out["reason"].to_numpy(dtype=object)
    out = _first_attempts(out, hellos)
    return out[COLUMNS].reset_index(drop=True)


def _first_attempts(out: pd.DataFrame, hellos: pd.DataFrame | None) -> pd.DataFrame:
    out["first_attempt_version"] = None
    out["first_attempt_end"] = None
    out["first_attempt_gap_s"] = np.nan
    if hellos is None or hellos.empty:
        return out
    h = hellos[hellos["client_addr"].notna() & hellos["ts"].notna()]
    h = pd.DataFrame({"_client": h["client_addr"].astype(str).to_numpy(), "_h_ts": _utc(h["ts"]).to_numpy(),
                      "_version": [_hello_version(r) for r in h.itertuples(index=False)],
                      "_end": [ENDINGS.get(str(o), str(o)) for o in h["outcome"].astype(object)],
                      "_outcome": h["outcome"].astype(object).to_numpy()})
    h = h.sort_values(["_client", "_h_ts"], kind="stable").reset_index(drop=True)
    g = h.groupby("_client", sort=False)
    h["_p_ts"], h["_p_version"], h["_p_end"] = g["_h_ts"].shift(1), g["_version"].shift(1), g["_end"].shift(1)
    h["_key"] = [_AS_REASON.get(str(o), str(o)) for o in h["_outcome"]]
    left = out.reset_index().sort_values("_ts", kind="stable")
    right = h.sort_values("_h_ts", kind="stable")
    tol = pd.Timedelta(seconds=OWN_HELLO_TOLERANCE_S)
    # the failure's own connection: a hello that ended the way it did, else the nearest one
    same = pd.merge_asof(left.assign(_key=left["_reason"]), right, left_on="_ts", right_on="_h_ts",
                         by=["_client", "_key"], direction="nearest", tolerance=tol).set_index("index")
    near = pd.merge_asof(left, right.drop(columns="_key"), left_on="_ts", right_on="_h_ts", by="_client",
                         direction="nearest", tolerance=tol).set_index("index")
    hit = same.where(same["_h_ts"].notna(), near.reindex(same.index)).sort_index()
    pgap = (hit["_h_ts"] - hit["_p_ts"]).dt.total_seconds()
    ok = hit["_p_ts"].notna() & (pgap <= LOOKBACK_S)
    out.loc[ok.to_numpy(), "first_attempt_version"] = hit.loc[ok, "_p_version"].to_numpy()
    out.loc[ok.to_numpy(), "first_attempt_end"] = hit.loc[ok, "_p_end"].to_numpy()
    out.loc[ok.to_numpy(), "first_attempt_gap_s"] = pgap[ok].to_numpy()
    return out


def by_reason(seq: pd.DataFrame) -> dict[str, dict[str, int]]:
    """SPEC §7 ``reasons[].preceded_by``: per reason, counts of what came before (attributable only)."""
    if seq.empty:
        return {}
    out: dict[str, dict[str, int]] = {}
    for reason, rows in seq.groupby("reason", sort=True):
        counts = rows["preceded_by"].value_counts()
        base = {"peer_closed": 0, "timeout": 0, "success": 0, "none_seen": 0}
        base.update({str(k): int(v) for k, v in counts.items()})
        out[str(reason)] = base
    return out


def fallback_evidence(seq: pd.DataFrame) -> dict[str, Any]:
    """The numbers behind "17 of 20 fallbacks followed a first attempt ... reset within 2 s before"."""
    rows = seq[(seq["reason"] == "inappropriate_fallback").to_numpy(dtype=bool)] if len(seq) else seq
    network = rows["preceded_by"].map(lambda k: FAMILY.get(str(k)) == "network").astype(bool)
    quick = rows["previous_gap_s"].astype(float) <= QUICK_S
    captured = rows["first_attempt_end"].notna().astype(bool)
    cap_quick = rows["first_attempt_gap_s"].astype(float) <= QUICK_S
    ends = rows.loc[captured, "first_attempt_end"].astype(str).value_counts()
    return {
        "fallbacks": len(rows),
        "after_network_failure": int(network.sum()),
        "after_network_failure_within_2s": int((network & quick).sum()),
        "after_failure": int(rows["preceded_by"].isin(set(FAMILY) - {"inappropriate_fallback"}).sum()),
        "after_fallback": int((rows["preceded_by"] == "inappropriate_fallback").sum()),
        "after_success": int((rows["preceded_by"] == "success").sum()),
        "none_seen": int((rows["preceded_by"] == "none_seen").sum()),
        "captured_first_attempts": int(captured.sum()),
        "captured_first_attempt_ends": {str(k): int(v) for k, v in ends.items()},
        "captured_reset_within_2s": int((captured & cap_quick & (rows["first_attempt_end"] == "RST")).sum()),
    }


def fallback_sentence(ev: dict[str, Any]) -> str | None:
    """One sentence for the summary, from :func:`fallback_evidence` (None without fallbacks)."""
    n = ev["fallbacks"]
    if not n:
        return None
    text = (f"{ev['after_network_failure_within_2s']} of {n} fallbacks followed a failed first attempt "
            f"(peer closed or timed out) from the same client within 2 s before; "
            f"{ev['after_success']} followed a success and {ev['none_seen']} had no earlier attempt "
            f"in the logs within 10 s")
    if ev["captured_first_attempts"]:
        ends = ", ".join(f"{k} {v}" for k, v in sorted(ev["captured_first_attempt_ends"].items(),
                                                        key=lambda kv: (-kv[1], kv[0])))
        resets, seen = ev["captured_reset_within_2s"], ev["captured_first_attempts"]
        text += (f"; in the capture, {resets} of {seen} first attempts seen {'was' if resets == 1 else 'were'} "
                 f"reset within 2 s before (how they ended: {ends})")
    return text
