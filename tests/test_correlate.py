"""Correlation (SPEC §6): exact matches for hand-built tables, then invariants (hypothesis).

Failure rows have the shape the nginx error-log reader gives (``nginx-logs.md``: whole
second ``ts``, ``client:`` as ``client_addr``, ``*N`` as ``conn_id``); session rows the shape
of an access-log line with ``$ssl_protocol``/``$ssl_cipher``.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logcorr.correlate import (
    MATCH_COLUMNS,
    PROTOCOL_ORDER,
    attribute,
    correlate,
    dedupe_failures,
    is_lb,
    link_failures,
)
from logcorr.errors import LogcorrError
from logcorr.schema import MATCHES

T0 = pd.Timestamp("2026-11-26T17:00:00Z")
LB = "10.0.0.5"
LB_NETS = [ipaddress.ip_network("10.0.0.0/24")]


def ts(seconds: float) -> pd.Timestamp:
    return (T0 + pd.Timedelta(seconds=seconds)).as_unit("us")


def failures(*rows: dict[str, Any]) -> pd.DataFrame:
    """Failures with defaults for the columns a row does not name."""
    base = {"source": "nginx_error", "client_is_real": None, "reason": "inappropriate_fallback",
            "reason_text": "inappropriate fallback", "server_addr": "0.0.0.0:443",
            "file": "/var/log/nginx/error.log", "client_side": True, "attribution": None,
            "ts_precision_s": 1.0, "lb_addr": None}
    if not rows:
        return failures({"ts": T0, "client_addr": "10.0.1.23"}).iloc[:0]
    out = pd.DataFrame([{**base, "conn_id": i + 1, "line": i + 1, **r} for i, r in enumerate(rows)])
    out["ts"] = pd.to_datetime(out["ts"], utc=True).astype("datetime64[us, UTC]")
    return out


def sessions(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {"source": "nginx_access", "ssl_protocol": "TLSv1.2", "ssl_cipher": "ECDHE-RSA-AES128-GCM-SHA256",
            "file": "/var/log/nginx/access.log", "is_connection": True}
    if not rows:
        return sessions({"ts": T0, "client_addr": "10.0.1.23"}).iloc[:0]
    out = pd.DataFrame([{**base, "line": i + 1, **r} for i, r in enumerate(rows)])
    out["ts"] = pd.to_datetime(out["ts"], utc=True).astype("datetime64[us, UTC]")
    return out


def recovered(m: pd.DataFrame) -> list[Any]:
    return [None if pd.isna(v) else bool(v) for v in m["recovered"]]


def test_whole_frame_for_a_small_case() -> None:
    f = failures({"ts": ts(0), "client_addr": "10.0.1.23"},
                 {"ts": ts(1), "client_addr": LB, "reason": "peer_closed"},
                 {"ts": ts(2), "client_addr": "198.51.100.7", "reason": "no_shared_cipher"})
    s = sessions({"ts": ts(0.4), "client_addr": "10.0.1.23"},
                 {"ts": ts(1.5), "client_addr": LB})  # an LB health check with TLS
    m = correlate(f, s, 300, "TLSv1.2", lb_networks=LB_NETS)
    log = "/var/log/nginx/error.log"
    expected = pd.DataFrame({
        "failure_id": pd.array([f"{log}:1", f"{log}:2", f"{log}:3"], dtype="string"),
        "failure_key": pd.array([f"{log}:1", f"{log}:2", f"{log}:3"], dtype="string"),
        "ts": pd.Series([ts(0), ts(1), ts(2)], dtype="datetime64[us, UTC]"),
        "source": pd.array(["nginx_error"] * 3, dtype="string"),
        "client_addr": pd.array(["10.0.1.23", LB, "198.51.100.7"], dtype="string"),
        "reason": pd.array(["inappropriate_fallback", "peer_closed", "no_shared_cipher"], dtype="string"),
        "attributable": [True, False, True],
        "attribution": pd.array(["error_log_client", "unattributable_lb", "error_log_client"], dtype="string"),
        "recovered": pd.array([True, None, False], dtype="boolean"),
        "recovered_at": pd.Series([ts(0.4), pd.NaT, pd.NaT], dtype="datetime64[us, UTC]"),
        "delay_s": [0.4, float("nan"), float("nan")],
        "recovered_protocol": pd.array(["TLSv1.2", None, None], dtype="string"),
        "recovered_cipher": pd.array(["ECDHE-RSA-AES128-GCM-SHA256", None, None], dtype="string"),
        "class": pd.array(["client"] * 3, dtype="string"),
        "evidence": pd.array([None] * 3, dtype="string"),
        "file": pd.array([log] * 3, dtype="string"),
        "line": pd.array([1, 2, 3], dtype="Int64"),
        "host": pd.array([None] * 3, dtype="string"),
    })
    pd.testing.assert_frame_equal(m, expected)
    assert list(m.columns) == MATCH_COLUMNS == MATCHES.names


@pytest.mark.parametrize(
    ("session_at", "protocol", "min_protocol", "expected", "delay"),
    [
        (0.4, "TLSv1.2", "TLSv1.2", True, 0.4),  # same second as the whole-second failure
        (0.0, "TLSv1.2", "TLSv1.2", True, 0.0),  # the same instant
        (300.0, "TLSv1.2", "TLSv1.2", True, 300.0),  # exactly t + window
        (300.000001, "TLSv1.2", "TLSv1.2", False, None),  # one microsecond later
        (-0.000001, "TLSv1.2", "TLSv1.2", False, None),  # the second before
        (5.0, "TLSv1.1", "TLSv1.2", False, None),  # too low a protocol
        (5.0, "TLSv1.1", "TLSv1.1", True, 5.0),
        (5.0, "TLSv1.3", "TLSv1.2", True, 5.0),  # higher is fine
        (5.0, "TLSv1", "TLSv1.0", True, 5.0),  # nginx spells 1.0 "TLSv1"
        (5.0, None, "TLSv1.2", False, None),  # protocol not logged: not a recovery
    ],
)
def test_window_bounds_and_protocol(session_at: float, protocol: str | None, min_protocol: str,
                                    expected: bool, delay: float | None) -> None:
    f = failures({"ts": ts(0), "client_addr": "10.0.1.23"})
    s = sessions({"ts": ts(session_at), "client_addr": "10.0.1.23", "ssl_protocol": protocol})
    m = correlate(f, s, 300, min_protocol)
    assert recovered(m) == [expected]
    assert (None if pd.isna(m["delay_s"][0]) else m["delay_s"][0]) == (pytest.approx(delay) if delay is not None else None)


def test_whole_second_floor_and_microsecond_sources() -> None:
    # An nginx line at 17:00:00 may be 17:00:00.9 in truth; the merged capture row knows.
    f = failures({"ts": ts(0.5), "client_addr": "10.0.1.23", "ts_precision_s": None},
                 {"ts": ts(0.5), "client_addr": "10.0.1.24", "source": "pcap", "ts_precision_s": 1e-6})
    s = sessions({"ts": ts(0.2), "client_addr": "10.0.1.23"}, {"ts": ts(0.2), "client_addr": "10.0.1.24"})
    m = correlate(f, s, 300)
    assert recovered(m) == [True, False]
    assert m["delay_s"][0] == 0.0  # 0.2 - 0.5 clamped: the log cannot order them


@pytest.mark.parametrize("how", ["cidr", "learned", "marked", "prior"])
def test_lb_failure_is_unattributable_even_when_the_lb_has_sessions(how: str) -> None:
    f = failures({"ts": ts(0), "client_addr": LB,
                  "client_is_real": False if how == "marked" else None,
                  "attribution": "lb" if how == "prior" else None})
    s = sessions({"ts": ts(1), "client_addr": LB})
    m = correlate(f, s, 300, lb_networks=LB_NETS if how == "cidr" else (),
                  lb_addrs=[LB] if how == "learned" else ())
    assert recovered(m) == [None]
    assert m["attributable"].tolist() == [False]
    assert m["attribution"].tolist() == ["unattributable_lb"]
    assert m["recovered_at"].isna().all()


@pytest.mark.parametrize(
    ("client", "real", "attributable", "attribution"),
    [(LB, False, False, "unattributable_ambiguous_capture"),  # the LB's line: still unknown
     ("203.0.113.22", True, True, "error_log_client")],  # a direct client: known all along
)
def test_ambiguous_capture_pairing(client: str, real: bool, attributable: bool, attribution: str) -> None:
    # logcorr.attribution marks nginx rows whose capture connection is ambiguous
    f = failures({"ts": ts(0), "client_addr": client, "client_is_real": real, "attribution": "ambiguous_capture"})
    a = attribute(f, LB_NETS)
    assert (a["attributable"][0], a["attribution"][0]) == (attributable, attribution)


def test_proxy_header_names_the_client_even_inside_the_lb_block() -> None:
    f = failures({"ts": ts(0), "client_addr": "10.0.0.77", "client_is_real": True,
                  "attribution": "proxy_debug_line", "lb_addr": LB})
    m = correlate(f, sessions({"ts": ts(2), "client_addr": "10.0.0.77"}), 300, lb_networks=LB_NETS)
    assert (recovered(m), m["attribution"][0]) == ([True], "proxy_debug_line")


def test_one_session_recovers_two_failures() -> None:
    # Android 6-7.1 platform clients log two fallbacks (TLS 1.1, then 1.0) per glitch
    # (client-fallback.md §8.2).
    f = failures({"ts": ts(0), "client_addr": "10.0.1.23"}, {"ts": ts(1), "client_addr": "10.0.1.23"})
    m = correlate(f, sessions({"ts": ts(1.3), "client_addr": "10.0.1.23"}), 300)
    assert recovered(m) == [True, True]
    assert m["delay_s"].tolist() == [pytest.approx(1.3), pytest.approx(0.3)]
    assert m["recovered_at"].tolist() == [ts(1.3), ts(1.3)]


def test_first_good_session_wins_and_other_clients_do_not_count() -> None:
    f = failures({"ts": ts(0), "client_addr": "10.0.1.23"})
    s = sessions({"ts": ts(1), "client_addr": "10.0.1.99"},
                 {"ts": ts(2), "client_addr": "10.0.1.23", "ssl_protocol": "TLSv1"},
                 {"ts": ts(4), "client_addr": "10.0.1.23", "ssl_protocol": "TLSv1.3", "ssl_cipher": "TLS_AES_128_GCM_SHA256"},
                 {"ts": ts(3), "client_addr": "10.0.1.23"})
    m = correlate(f, s, 300)
    assert (m["recovered_at"][0], m["recovered_protocol"][0]) == (ts(3), "TLSv1.2")


def test_upstream_failures_are_dropped() -> None:
    f = failures({"ts": ts(0), "client_addr": "10.0.1.23"},
                 {"ts": ts(0), "client_addr": "192.0.2.1", "client_side": False, "reason": "other"})
    assert correlate(f, sessions(), 300)["client_addr"].tolist() == ["10.0.1.23"]


def test_same_line_in_two_error_logs_is_one_failure() -> None:
    # A server-level "error_log ... debug" beside the main error_log: the same *N line twice;
    # the debug copy was attributed from its "PROXY protocol src:" line (SPEC §6).
    main = {"ts": ts(0), "client_addr": LB, "client_is_real": False, "attribution": "lb",
            "conn_id": 7, "file": "/var/log/nginx/error.log", "line": 10}
    debug = {**main, "client_addr": "203.0.113.4", "client_is_real": True, "lb_addr": LB,
             "attribution": "proxy_debug_line", "file": "/var/log/nginx/debug.log", "line": 99}
    other = {**main, "conn_id": 8, "line": 11}
    d = dedupe_failures(attribute(failures(main, debug, other), LB_NETS))
    assert d[["client_addr", "attribution", "file", "copies", "seen_in"]].values.tolist() == [
        ["203.0.113.4", "proxy_debug_line", "/var/log/nginx/debug.log", 2,
         "/var/log/nginx/debug.log, /var/log/nginx/error.log"],
        [LB, "unattributable_lb", "/var/log/nginx/error.log", 1, "/var/log/nginx/error.log"],
    ]
    pd.testing.assert_frame_equal(dedupe_failures(d), d)  # idempotent: a caller may dedupe first
    m = correlate(failures(main, debug, other), sessions({"ts": ts(3), "client_addr": "203.0.113.4"}),
                  300, lb_networks=LB_NETS)
    # every stored row stays, the two copies share one key and the failure's judgement
    assert (m["client_addr"].tolist(), recovered(m)) == ([LB, "203.0.113.4", "203.0.113.4"], [None, True, True])
    assert m["failure_key"].tolist() == ["/var/log/nginx/error.log:11", "/var/log/nginx/debug.log:99",
                                         "/var/log/nginx/debug.log:99"]
    assert m["failure_id"].tolist() == ["/var/log/nginx/error.log:11", "/var/log/nginx/debug.log:99",
                                        "/var/log/nginx/error.log:10"]
    assert m["failure_key"].nunique() == 2


def test_copies_need_the_same_second_reason_and_server() -> None:
    a = {"ts": ts(0), "client_addr": "10.0.1.23", "conn_id": 7}
    f = failures(a, {**a, "ts": ts(1)}, {**a, "reason": "peer_closed"}, {**a, "server_addr": "0.0.0.0:8443"},
                 {**a, "conn_id": None}, {**a, "conn_id": None})
    assert len(dedupe_failures(attribute(f))) == 6


def test_rows_without_a_time_are_never_copies_of_each_other() -> None:
    # *N without a time (a line whose stamp could not be placed): no second to share, so
    # neither the fast path nor the reference may link them (they once shared one group)
    from logcorr import _reference

    a = {"ts": pd.NaT, "client_addr": "10.0.1.23"}
    f = attribute(failures({**a, "conn_id": 7}, {**a, "conn_id": 8, "reason": "peer_closed"},
                           {**a, "conn_id": 7, "line": 9}))
    fast, ref = link_failures(f), _reference.link_failures(f)
    assert fast["failure_key"].nunique() == ref["failure_key"].nunique() == 3
    pd.testing.assert_series_equal(fast["failure_key"], ref["failure_key"])


def test_is_lb() -> None:
    addr = pd.Series(["10.0.0.5", "10.0.1.5", "2001:db8::1", "[2001:db8::1]", None, "garbage", "192.0.2.9"],
                     dtype="string")
    got = is_lb(addr, [ipaddress.ip_network("10.0.0.0/24"), "2001:db8::/32"], ["192.0.2.9"])
    assert got.tolist() == [True, False, True, True, False, False, True]
    assert got.dtype == bool


def test_unknown_min_protocol() -> None:
    with pytest.raises(LogcorrError, match="--min-protocol 'TLSv9'"):
        correlate(failures({"ts": ts(0), "client_addr": "10.0.1.23"}), sessions(), 300, "TLSv9")


def test_empty_inputs() -> None:
    m = correlate(failures({"ts": ts(0), "client_addr": "10.0.1.23"}).iloc[:0], sessions(), 300)
    assert list(m.columns) == MATCH_COLUMNS
    assert m.empty


# -- invariants ------------------------------------------------------------------------

CLIENTS = ["10.0.1.1", "10.0.1.2", "198.51.100.7", LB, "2001:db8::7"]
PROTOCOLS = [None, "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]

failure_rows = st.lists(st.fixed_dictionaries({
    "us": st.integers(0, 20_000_000), "client_addr": st.sampled_from(CLIENTS),
    "client_is_real": st.sampled_from([None, True, False]),
    "whole": st.booleans(),
}), max_size=25)
session_rows = st.lists(st.fixed_dictionaries({
    "us": st.integers(0, 30_000_000), "client_addr": st.sampled_from(CLIENTS),
    "ssl_protocol": st.sampled_from(PROTOCOLS),
}), max_size=25)


def _frames(frows: list[dict[str, Any]], srows: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    f = failures(*[{"ts": T0 + pd.Timedelta(microseconds=r["us"] // 1_000_000 * 1_000_000 if r["whole"] else r["us"]),
                    "client_addr": r["client_addr"], "client_is_real": r["client_is_real"],
                    "conn_id": None, "source": "nginx_error" if r["whole"] else "pcap",
                    "ts_precision_s": 1.0 if r["whole"] else 1e-6} for r in frows])
    s = sessions(*[{"ts": T0 + pd.Timedelta(microseconds=r["us"]), "client_addr": r["client_addr"],
                    "ssl_protocol": r["ssl_protocol"], "ssl_cipher": f"c{i}"} for i, r in enumerate(srows)])
    return f, s


def _canonical(m: pd.DataFrame) -> pd.DataFrame:
    return m.sort_values("failure_id").reset_index(drop=True)


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WINDOWS = st.sampled_from([0, 1, 3, 10])


@SETTINGS
@given(failure_rows, session_rows, WINDOWS, st.sampled_from(["TLSv1", "TLSv1.2", "TLSv1.3"]))
def test_matches_agree_with_brute_force(frows: list[dict[str, Any]], srows: list[dict[str, Any]],
                                        window: int, min_protocol: str) -> None:
    f, s = _frames(frows, srows)
    m = correlate(f, s, window, min_protocol, lb_networks=LB_NETS)
    assert len(m) == len(f)
    ok = [PROTOCOL_ORDER.get(p or "", -1) >= PROTOCOL_ORDER[min_protocol] for p in s["ssl_protocol"]]
    good = s[pd.Series(ok, index=s.index, dtype=bool)]
    for row in m.itertuples():
        if not row.attributable:
            assert pd.isna(row.recovered)
            assert pd.isna(row.recovered_at)
            assert row.client_addr == LB or f.loc[f["line"] == row.line, "client_is_real"].item() is False
            continue
        whole = row.source == "nginx_error"
        lo = row.ts.floor("s") if whole else row.ts
        hi = row.ts + pd.Timedelta(seconds=window)
        cand = good[(good["client_addr"] == row.client_addr) & (good["ts"] >= lo) & (good["ts"] <= hi)]
        assert bool(row.recovered) == (len(cand) > 0)
        if row.recovered:
            # the same client, not before the failure's second, inside the window: the first one
            assert row.recovered_at == cand["ts"].min()
            assert lo <= row.recovered_at <= hi
            assert row.delay_s == max(0.0, (row.recovered_at - row.ts).total_seconds())
            assert row.recovered_protocol in set(cand.loc[cand["ts"] == row.recovered_at, "ssl_protocol"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(failure_rows, session_rows, WINDOWS, st.randoms(use_true_random=False))
def test_row_order_and_splitting_change_nothing(frows: list[dict[str, Any]], srows: list[dict[str, Any]],
                                                window: int, rnd: Any) -> None:
    f, s = _frames(frows, srows)
    whole = correlate(f, s, window, lb_networks=LB_NETS)
    # shuffled rows: the very same frame (output order is by time, client, file, line)
    fs = f.sample(frac=1.0, random_state=rnd.randint(0, 2**31)).reset_index(drop=True)
    ss = s.sample(frac=1.0, random_state=rnd.randint(0, 2**31)).reset_index(drop=True)
    pd.testing.assert_frame_equal(correlate(fs, ss, window, lb_networks=LB_NETS), whole)
    # one client group at a time, concatenated
    parts = [correlate(f[f["client_addr"] == c], s[s["client_addr"] == c], window, lb_networks=LB_NETS)
             for c in CLIENTS]
    pd.testing.assert_frame_equal(_canonical(pd.concat(parts)), _canonical(whole))
    # failures in arbitrary chunks (as if from several files), sessions whole
    cut = sorted(rnd.sample(range(len(f) + 1), k=min(2, len(f) + 1)))
    chunks = [f.iloc[a:b] for a, b in zip([0, *cut], [*cut, len(f)], strict=True)]
    joined = pd.concat([correlate(c, s, window, lb_networks=LB_NETS) for c in chunks])
    pd.testing.assert_frame_equal(_canonical(joined), _canonical(whole))


@SETTINGS
@given(failure_rows, session_rows, WINDOWS, st.integers(0, 10))
def test_widening_the_window_never_unrecovers(frows: list[dict[str, Any]], srows: list[dict[str, Any]],
                                              window: int, extra: int) -> None:
    f, s = _frames(frows, srows)
    narrow = correlate(f, s, window, lb_networks=LB_NETS)
    wide = correlate(f, s, window + extra, lb_networks=LB_NETS)
    was = narrow["recovered"].fillna(False).to_numpy(dtype=bool)
    assert wide["recovered"].fillna(False).to_numpy(dtype=bool)[was].all()
    assert (wide["recovered"].isna() == narrow["recovered"].isna()).all()
    # the same first session when it already was inside the narrow window
    pd.testing.assert_series_equal(wide["recovered_at"][was], narrow["recovered_at"][was])
