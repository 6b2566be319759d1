"""preceded_by: the same client's previous attempt within 10 s, from logs and from a capture.

Hand-built rows; their shapes: matches as logcorr.correlate writes them (SPEC §4), sessions
and client_hellos as the readers store them.  The sequences are the ones client-fallback.md
§5/§8 describes: a first attempt that fails in the network, then an SCSV retry at once.
"""

from __future__ import annotations

import math

import pandas as pd

from logcorr.sequence import by_reason, fallback_evidence, fallback_sentence, preceded_by

T0 = pd.Timestamp("2026-11-26T17:00:00Z")


def _t(sec: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(seconds=sec)


def _m(fid: str, client: str, reason: str, sec: float, line: int, *, attributable: bool = True,
       file: str = "error.log") -> dict[str, object]:
    return {"failure_id": fid, "ts": _t(sec), "client_addr": client, "reason": reason,
            "attributable": attributable, "file": file, "line": line}


MATCHES = pd.DataFrame([
    _m("a1", "198.51.100.30", "peer_closed", 0, 1),
    _m("a2", "198.51.100.30", "inappropriate_fallback", 0, 2),  # same second, next line
    _m("a3", "198.51.100.30", "inappropriate_fallback", 20, 5),
    _m("b1", "198.51.100.31", "inappropriate_fallback", 7, 3),
    _m("c1", "198.51.100.32", "peer_closed", 10.1, 7, file="cap.pcap"),
    _m("c2", "198.51.100.32", "inappropriate_fallback", 10.4, 9, file="cap.pcap"),
    _m("d1", "10.0.1.23", "inappropriate_fallback", 10, 4, attributable=False),
])
SESSIONS = pd.DataFrame({"client_addr": ["198.51.100.30", "198.51.100.31", "198.51.100.31"],
                         "ts": [_t(1.2), _t(5), _t(7)]})  # .31's second session: same instant as b1
HELLOS = pd.DataFrame({
    "client_addr": ["198.51.100.32", "198.51.100.32"], "ts": [_t(10.1), _t(10.4)],
    "hello_version": ["TLSv1.2", "TLSv1"], "versions": [None, None],
    "outcome": ["reset", "inappropriate_fallback"]})


def _rows(seq: pd.DataFrame) -> list[tuple[object, ...]]:
    def gap(x: float) -> float | None:
        return None if math.isnan(x) else round(x, 3)
    return [(r.failure_id, r.reason, r.preceded_by, gap(r.previous_gap_s), r.first_attempt_version, r.first_attempt_end,
             gap(r.first_attempt_gap_s)) for r in seq.sort_values("failure_id").itertuples()]


def test_preceded_by() -> None:
    seq = preceded_by(MATCHES, SESSIONS, HELLOS)
    assert _rows(seq) == [
        ("a1", "peer_closed", "none_seen", None, None, None, None),
        ("a2", "inappropriate_fallback", "peer_closed", 0.0, None, None, None),
        ("a3", "inappropriate_fallback", "none_seen", None, None, None, None),  # the session 18.8 s before is too old
        ("b1", "inappropriate_fallback", "success", 2.0, None, None, None),  # the session at b1's own instant is not "before"
        ("c1", "peer_closed", "none_seen", None, None, None, None),
        ("c2", "inappropriate_fallback", "peer_closed", 0.3, "TLSv1.2", "RST", 0.3),
    ]


def test_summary_numbers() -> None:
    seq = preceded_by(MATCHES, SESSIONS, HELLOS)
    assert by_reason(seq) == {
        "inappropriate_fallback": {"peer_closed": 2, "timeout": 0, "success": 1, "none_seen": 1},
        "peer_closed": {"peer_closed": 0, "timeout": 0, "success": 0, "none_seen": 2}}
    ev = fallback_evidence(seq)
    assert ev == {"fallbacks": 4, "after_network_failure": 2, "after_network_failure_within_2s": 2,
                  "after_failure": 2, "after_fallback": 0, "after_success": 1, "none_seen": 1,
                  "captured_first_attempts": 1, "captured_first_attempt_ends": {"RST": 1},
                  "captured_reset_within_2s": 1}
    assert fallback_sentence(ev) == (
        "2 of 4 fallbacks followed a failed first attempt (peer closed or timed out) from the same client "
        "within 2 s before; 1 followed a success and 1 had no earlier attempt in the logs within 10 s; "
        "in the capture, 1 of 1 first attempts seen was reset within 2 s before (how they ended: RST 1)")


def test_empty() -> None:
    seq = preceded_by(MATCHES.iloc[:0], SESSIONS, None)
    assert (len(seq), by_reason(seq), fallback_sentence(fallback_evidence(seq))) == (0, {}, None)


def test_copies_and_repeated_ids() -> None:
    # one failure seen by two sources (same failure_key) is one attempt, not its own predecessor;
    # a file:line id repeated after a rotation (error.log:7 twice) is two failures
    rows = pd.DataFrame([
        {**_m("error.log:7", "198.51.100.40", "peer_closed", 0, 7), "failure_key": "k1"},
        {**_m("cap.pcap:3", "198.51.100.40", "peer_closed", 0.2, 3, file="cap.pcap"), "failure_key": "k1"},
        {**_m("error.log:7", "198.51.100.40", "inappropriate_fallback", 1, 7), "failure_key": "k2"},
    ])
    seq = preceded_by(rows, SESSIONS.iloc[:0], None)
    assert [(r.failure_id, r.reason, r.preceded_by) for r in seq.itertuples()] == [
        ("error.log:7", "peer_closed", "none_seen"), ("error.log:7", "inappropriate_fallback", "peer_closed")]
    assert by_reason(seq)["inappropriate_fallback"]["peer_closed"] == 1
