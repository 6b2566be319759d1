"""Naming the real client of failures that show the load balancer (SPEC §6)."""

from __future__ import annotations

import pandas as pd

from logcorr.attribution import (
    attribute_failures,
    from_debug_lines,
    merge_capture,
    merge_stream_access,
    representatives,
)

LB = "127.0.0.5"


def failures(rows: list[dict[str, object]]) -> pd.DataFrame:
    base = {"source": "nginx_error", "client_is_real": False, "lb_addr": LB, "attribution": "lb",
            "conn_id": pd.NA, "server_addr": "127.0.0.1:8444", "reason_text": "x", "level": "info",
            "file": "error.log", "line": 1}
    df = pd.DataFrame([{**base, **r} for r in rows])
    df["ts"] = pd.to_datetime(df["ts"], utc=True, format="ISO8601").astype("datetime64[us, UTC]")
    return df


def capture(client: str, ts: str, reason: str = "inappropriate_fallback", line: int = 1) -> dict[str, object]:
    return {"source": "pcap", "client_addr": client, "client_is_real": True, "lb_addr": LB,
            "attribution": "pcap_proxy_header", "ts": ts, "reason": reason, "file": "lb.pcap",
            "line": line, "server_addr": pd.NA, "level": pd.NA}


def headers(rows: list[tuple[int, str, str]]) -> pd.DataFrame:
    df = pd.DataFrame([{"source": "nginx_error", "conn_id": c, "src_addr": a, "ts": t} for c, a, t in rows],
                      columns=["source", "conn_id", "src_addr", "ts"])
    df["ts"] = pd.to_datetime(df["ts"], utc=True, format="ISO8601").astype("datetime64[us, UTC]")
    return df


def test_debug_line_names_the_client_by_connection_number() -> None:
    # nginx-logs.md §4.3: "*103 PROXY protocol src: 127.0.0.9 46191, dst: 127.0.0.5 9445"
    f = failures([{"ts": "2026-11-26T12:07:30Z", "client_addr": LB, "conn_id": 103, "reason": "unsupported_protocol"},
                  {"ts": "2026-11-26T12:07:31Z", "client_addr": LB, "conn_id": 104, "reason": "unsupported_protocol"}])
    out = from_debug_lines(f, headers([(103, "198.51.100.9", "2026-11-26T12:07:30Z")]))
    assert out["client_addr"].tolist() == ["198.51.100.9", LB]
    assert out["attribution"].tolist() == ["proxy_debug_line", "lb"]
    assert out["client_is_real"].tolist() == [True, False]


def test_debug_line_of_another_nginx_lifetime_is_not_used() -> None:
    f = failures([{"ts": "2026-11-26T12:07:30Z", "client_addr": LB, "conn_id": 103, "reason": "other"}])
    out = from_debug_lines(f, headers([(103, "198.51.100.9", "2026-11-20T08:00:00Z")]))
    assert out["attribution"].tolist() == ["lb"]


def test_capture_merges_with_the_error_log_line_once() -> None:
    f = failures([{"ts": "2026-11-26T12:00:00Z", "client_addr": LB, "reason": "inappropriate_fallback"},
                  capture("203.0.113.4", "2026-11-26T12:00:00.420Z")])
    out = representatives(merge_capture(f))
    assert len(out) == 1
    row = out.iloc[0]
    assert (row["client_addr"], row["attribution"], row["seen_by"]) == ("203.0.113.4", "pcap_proxy_header", "nginx_error+pcap")


def test_ambiguous_candidates_stay_unattributed() -> None:
    # one nginx line, two capture connections through the same LB in that second
    f = failures([{"ts": "2026-11-26T12:00:00Z", "client_addr": LB, "reason": "inappropriate_fallback"},
                  capture("203.0.113.4", "2026-11-26T12:00:00.100Z", line=1),
                  capture("203.0.113.5", "2026-11-26T12:00:00.900Z", line=2)])
    out = representatives(merge_capture(f))
    nginx = out[out["source"] == "nginx_error"]
    assert nginx["attribution"].tolist() == ["ambiguous_capture"]
    assert len(out) == 3


def test_equal_count_groups_merge_in_time_order() -> None:
    f = failures([{"ts": "2026-11-26T12:00:00Z", "client_addr": LB, "reason": "inappropriate_fallback", "line": 1, "conn_id": 10},
                  {"ts": "2026-11-26T12:00:00Z", "client_addr": LB, "reason": "inappropriate_fallback", "line": 2, "conn_id": 11},
                  capture("203.0.113.4", "2026-11-26T12:00:00.100Z", line=1),
                  capture("203.0.113.5", "2026-11-26T12:00:00.900Z", line=2)])
    out = representatives(attribute_failures(f, headers([])))
    assert sorted(out["client_addr"]) == ["203.0.113.4", "203.0.113.5"]
    assert set(out["seen_by"]) == {"nginx_error+pcap"}


def test_inconsistent_reason_or_other_lb_does_not_merge() -> None:
    f = failures([{"ts": "2026-11-26T12:00:00Z", "client_addr": LB, "reason": "client_rejected_cert"},
                  capture("203.0.113.4", "2026-11-26T12:00:00.100Z", reason="inappropriate_fallback"),
                  {**capture("203.0.113.6", "2026-11-26T12:00:00.200Z", reason="client_rejected_cert"), "lb_addr": "127.0.0.6"}])
    out = representatives(merge_capture(f))
    assert len(out) == 3
    assert out[out["source"] == "nginx_error"]["attribution"].tolist() == ["lb"]


def test_copies_of_one_line_in_two_error_logs_join_one_capture_row() -> None:
    # nginx-logs.md §1.6: a server-level debug log receives the same line as the main log
    f = failures([{"ts": "2026-11-26T12:00:00Z", "client_addr": LB, "reason": "inappropriate_fallback", "conn_id": 34},
                  {"ts": "2026-11-26T12:00:00Z", "client_addr": LB, "reason": "inappropriate_fallback", "conn_id": 34,
                   "file": "proxy-debug.log"},
                  capture("203.0.113.4", "2026-11-26T12:00:00.100Z")])
    out = representatives(merge_capture(f))
    assert out["client_addr"].tolist() == ["203.0.113.4"]


def test_a_real_client_joins_on_its_own_address() -> None:
    # stream realip names the client; other clients pass the same LB in the same second
    f = failures([{"ts": "2026-11-26T12:00:00Z", "client_addr": "203.0.113.22", "reason": "inappropriate_fallback",
                   "conn_id": 36, "attribution": "stream_realip", "client_is_real": True},
                  capture("198.51.100.20", "2026-11-26T12:00:00.100Z", line=1),
                  capture("203.0.113.22", "2026-11-26T12:00:00.200Z", line=2)])
    out = representatives(merge_capture(f))
    assert sorted(out["client_addr"]) == ["198.51.100.20", "203.0.113.22"]
    assert out.set_index("client_addr").loc["203.0.113.22", "seen_by"] == "nginx_error+pcap"


def test_neighbouring_seconds_pair_in_order_instead_of_going_ambiguous() -> None:
    # Two fallbacks through the LB logged at :00 and :01; the capture saw them at :00.95 and
    # :01.05 — each inside both windows, but in order there is one pairing.
    f = failures([{"ts": "2026-11-26T12:00:00Z", "client_addr": LB, "reason": "inappropriate_fallback", "conn_id": 10},
                  {"ts": "2026-11-26T12:00:01Z", "client_addr": LB, "reason": "inappropriate_fallback", "conn_id": 11},
                  capture("203.0.113.4", "2026-11-26T12:00:00.950Z", line=1),
                  capture("203.0.113.5", "2026-11-26T12:00:01.050Z", line=2)])
    out = representatives(merge_capture(f))
    assert out.sort_values("ts")["client_addr"].tolist() == ["203.0.113.4", "203.0.113.5"]
    assert out["conn_id"].tolist() == [10, 11]


def test_stream_access_failures_give_way_to_the_error_log_line() -> None:
    # nginx-logs.md §5: each failed stream handshake has a 500 access entry; all but the
    # handshake timeout also have an error line with the same *N (here *36).
    f = failures([{"ts": "2026-11-26T12:00:00Z", "client_addr": "203.0.113.22", "reason": "inappropriate_fallback",
                   "conn_id": 36, "attribution": "stream_realip", "client_is_real": True},
                  {"ts": "2026-11-26T12:00:00.785Z", "client_addr": "203.0.113.22", "reason": "timeout",
                   "conn_id": 36, "source": "nginx_stream", "attribution": "stream_realip"},
                  {"ts": "2026-11-26T12:00:02.001Z", "client_addr": "203.0.113.23", "reason": "timeout",
                   "conn_id": 40, "source": "nginx_stream", "attribution": "stream_realip"}])
    linked = merge_stream_access(f)
    out = representatives(linked)
    assert list(zip(out["conn_id"], out["reason"], strict=True)) == [(36, "inappropriate_fallback"), (40, "timeout")]
    # nothing dropped: the stream entry of *36 points at its error-log line (SPEC §4 matches)
    assert linked["merged_into"].tolist() == [None, 0, None]


def test_capture_pairs_only_with_its_own_host() -> None:
    # *N, zones and captures are per nginx instance: web-2's capture says nothing of web-1's line
    f = failures([{"ts": "2026-11-26T12:00:00Z", "client_addr": LB, "reason": "inappropriate_fallback", "host": "web-1"},
                  {**capture("203.0.113.4", "2026-11-26T12:00:00.420Z"), "host": "web-2"}])
    g = pd.concat([f, failures([{"ts": "2026-11-26T12:00:05Z", "client_addr": LB, "reason": "no_shared_cipher",
                                  "host": "web-2"}])], ignore_index=True)
    assert len(representatives(merge_capture(g))) == 3  # web-2 has logs: its capture is web-2's
    f.loc[1, "host"] = "web-1"
    assert len(representatives(merge_capture(f))) == 1
    f.loc[1, "host"] = "captures"  # a capture file named apart from every log: pairs with any
    assert len(representatives(merge_capture(f))) == 1


def test_a_scanner_behind_the_lb_is_named_even_when_counts_differ() -> None:
    # testssl through the relay: 2 nginx lines in one second, 3 capture rows of one client
    # (one probe nginx logged as something else): the client is certain, pairs by nearest time.
    f = failures([{"ts": "2026-11-26T12:00:00Z", "client_addr": LB, "reason": "no_shared_cipher", "conn_id": 1},
                  {"ts": "2026-11-26T12:00:00Z", "client_addr": LB, "reason": "no_shared_cipher", "conn_id": 2, "line": 2},
                  capture("127.0.0.1", "2026-11-26T12:00:00.100Z", "other", line=10),
                  capture("127.0.0.1", "2026-11-26T12:00:00.300Z", "other", line=11),
                  capture("127.0.0.1", "2026-11-26T12:00:00.500Z", "other", line=12)])
    linked = merge_capture(f)
    assert linked["merged_into"].tolist()[:2] == [2, 3]
    out = representatives(linked)
    assert out["client_addr"].tolist() == ["127.0.0.1"] * 3
    assert out["reason"].tolist() == ["no_shared_cipher", "no_shared_cipher", "other"]  # nginx's word wins


def test_a_scanners_few_lines_pair_in_order_across_reasons() -> None:
    """The messy lab's testssl run through the relay (nginx 1.22.1, run of 2026-12-02): three
    probes end at 39.414 (a bad record after the ServerHello: nginx `wrong version number`),
    40.003 (an SSLv2 hello: `unknown protocol`) and 40.727 (an SSLv3 hello answered with alert
    40: `version too low`); nginx logs them as *17 in :39, *18 and *19 in :40.  Paired per
    reason, *17 took the SSLv2 row (same reason) and *19 was left alone: counted twice."""
    f = failures([{"ts": "2026-12-02T05:26:39Z", "client_addr": LB, "conn_id": 17, "reason": "not_tls", "line": 18},
                  {"ts": "2026-12-02T05:26:40Z", "client_addr": LB, "conn_id": 18, "reason": "not_tls", "line": 19},
                  {"ts": "2026-12-02T05:26:40Z", "client_addr": LB, "conn_id": 19, "reason": "unsupported_protocol",
                   "line": 20},
                  capture("127.0.0.1", "2026-12-02T05:26:39.414Z", "peer_closed", line=173),
                  capture("127.0.0.1", "2026-12-02T05:26:40.003Z", "not_tls", line=184),
                  capture("127.0.0.1", "2026-12-02T05:26:40.727Z", "other", line=199)])
    linked = merge_capture(f)
    assert linked["merged_into"].tolist()[:3] == [3, 4, 5]
    kept = representatives(linked)
    assert kept["reason"].tolist() == ["not_tls", "not_tls", "unsupported_protocol"]  # nginx's words
    assert set(kept["client_addr"]) == {"127.0.0.1"}


def test_a_line_nginx_wrote_late_still_pairs_with_its_capture_row() -> None:
    """testssl through the messy lab's relay starts with a connect-then-close (*11, then two
    version probes).  nginx's time is the second cached when it woke up: on a loaded host the
    line for the FIN captured at :17.45 is written in :18.  Unpaired, the line (client: the LB,
    `client closed connection`) counted as one health check more, and the capture row as the
    scanner's own failure."""
    f = failures([{"ts": "2026-12-02T05:20:18Z", "client_addr": LB, "conn_id": 11, "reason": "peer_closed",
                   "reason_text": "client closed connection", "line": 14},
                  {"ts": "2026-12-02T05:20:18Z", "client_addr": LB, "conn_id": 12, "reason": "unsupported_protocol",
                   "line": 15},
                  {"ts": "2026-12-02T05:20:18Z", "client_addr": LB, "conn_id": 13, "reason": "unsupported_protocol",
                   "line": 16},
                  {**capture("127.0.0.1", "2026-12-02T05:20:17.450Z", "peer_closed", line=15),
                   "action": "connect_close"},
                  capture("127.0.0.1", "2026-12-02T05:20:18.520Z", "unsupported_protocol", line=16),
                  capture("127.0.0.1", "2026-12-02T05:20:18.950Z", "unsupported_protocol", line=17)])
    linked = merge_capture(f)
    assert linked["merged_into"].tolist()[:3] == [3, 4, 5]
    assert len(representatives(linked)) == 3
    # the per-second tolerance alone (no lag) leaves the line and the row apart
    assert len(representatives(merge_capture(f, lag_s=0.5))) == 4


def test_an_empty_proxy_header_line_pairs_with_the_captures_no_byte_close() -> None:
    # nginx `broken header: ""` while reading PROXY protocol = closed before any byte
    f = failures([{"ts": "2026-11-26T12:00:00Z", "client_addr": LB, "reason": "other",
                   "reason_text": 'broken header: ""'},
                  {**capture(LB, "2026-11-26T12:00:00.300Z", "peer_closed"), "client_is_real": None,
                   "attribution": "pcap_tcp_peer", "action": "connect_close", "lb_addr": None}])
    assert len(representatives(merge_capture(f))) == 1


def test_a_scanner_burst_behind_the_lb_pairs_across_reasons() -> None:
    """testssl.sh through a PROXY relay (the messy lab, nginx 1.22.1): nginx logs 12 ALPN
    refusals in second :10 and 4 `no shared cipher` in :11/:12, and the capture sees the same
    16 connections of one client, ending up to 1.4 s after nginx's second, with the server's
    alert only ("other").  Per reason, the `no shared cipher` lines would take the earliest
    `other` rows (the ALPN ones) and leave 4 lines and 4 capture rows counted twice."""
    nginx = [{"ts": "2026-12-02T02:12:10Z", "client_addr": LB, "conn_id": 23 + i, "reason": "other",
              "line": 24 + i} for i in range(12)]
    nginx += [{"ts": f"2026-12-02T02:12:{s}Z", "client_addr": LB, "conn_id": 38 + i,
               "reason": "no_shared_cipher", "line": 39 + i} for i, s in enumerate(["11", "11", "11", "12"])]
    caps = [capture("127.0.0.1", f"2026-12-02T02:12:10.{75 * i:03d}Z", "other", line=252 + i) for i in range(12)]
    caps += [capture("127.0.0.1", t, "other", line=435 + i)
             for i, t in enumerate(["2026-12-02T02:12:11.478Z", "2026-12-02T02:12:11.737Z",
                                    "2026-12-02T02:12:11.991Z", "2026-12-02T02:12:12.414Z"])]
    out = merge_capture(failures(nginx + caps))
    kept = representatives(out)
    assert len(kept) == 16
    assert set(kept["client_addr"]) == {"127.0.0.1"}
    assert kept["reason"].value_counts().to_dict() == {"other": 12, "no_shared_cipher": 4}  # nginx's words
    # the no-shared-cipher lines took the four late rows, not the ALPN ones
    late = kept[kept["line"] >= 435]
    assert sorted(late["reason"]) == ["no_shared_cipher"] * 4
