"""Captures built in code (tests/packets.py) → the four tables.

Addresses follow RFC 5737 / RFC 3849 documentation ranges: 198.51.100.0/24 and
2001:db8::/32 are real clients, 10.0.1.0/24 the load balancer, 10.0.2.10 nginx.
"""

from __future__ import annotations

import io
import ipaddress
import struct
from typing import Any

import pytest

from logcorr.sources import Batch, Options
from logcorr.sources.pcap import PcapReader
from logcorr.sources.signatures import sniff_pcap
from tests import packets as P

LB, NGINX, CLIENT = "10.0.1.23", "10.0.2.10", "198.51.100.7"
T0 = 1795714168.0  # 2026-11-26T17:29:28Z


def read(data: bytes, options: Options | None = None, **kw: Any) -> Batch:
    batch = PcapReader("cap.pcap", options or Options(), **kw).read(io.BytesIO(data))
    assert batch.lines == batch.parsed + batch.skipped + batch.rejected
    return batch


def rows(batch: Batch, table: str) -> list[dict[str, Any]]:
    return batch.tables[table].to_pylist()


def conv(cport: int = 50000, t0: float = T0, client: str = LB, server: str = NGINX) -> P.Conversation:
    return P.Conversation(client, server, cport=cport, t0=t0)


def test_fallback_refused_then_recovered_from_the_same_proxy_source() -> None:
    # SPEC §1: a TLS 1.2 hello with SCSV refused with alert 86, then a completed retry.
    a = conv().handshake()
    a.send("c", P.proxy_v2(CLIENT, "203.0.113.7", 40000, 443) + P.tls12_hello(scsv=True))
    a.send("s", P.alert(86)).fin("s").fin("c")
    b = conv(50001, T0 + 2).handshake()
    b.send("c", P.proxy_v2(CLIENT, "203.0.113.7", 40001, 443) + P.tls12_hello())
    b.send("s", P.server_hello(0x0303, 0xC02F) + P.record(22, bytes(900)), split=[400])
    b.send("c", P.record(22, bytes(70)) + P.ccs() + P.record(22, bytes(40)))
    b.send("s", P.ccs() + P.record(22, bytes(40))).send("c", P.appdata(200)).send("s", P.appdata(900))
    batch = read(P.pcap_bytes(a.packets + b.packets))
    (fail,) = rows(batch, "handshake_failures")
    assert {k: fail[k] for k in ("source", "client_addr", "client_is_real", "reason", "reason_text", "alert",
                                 "alert_name", "lb_addr", "attribution", "server_addr", "conn_id", "line")} == {
        "source": "pcap", "client_addr": CLIENT, "client_is_real": True, "reason": "inappropriate_fallback",
        "reason_text": "server alert 86 inappropriate_fallback", "alert": 86,
        "alert_name": "inappropriate_fallback", "lb_addr": LB, "attribution": "pcap_proxy_header",
        "server_addr": "10.0.2.10:443", "conn_id": None, "line": 4}
    assert fail["ts"].timestamp() == pytest.approx(T0 + 0.005)  # the alert's packet
    (session,) = rows(batch, "tls_sessions")
    assert {k: session[k] for k in ("source", "client_addr", "ssl_protocol", "ssl_cipher", "is_connection",
                                    "remote_addr", "proxy_protocol_addr", "server_name", "line")} == {
        "source": "pcap", "client_addr": CLIENT, "ssl_protocol": "TLSv1.2",
        "ssl_cipher": "ECDHE-RSA-AES128-GCM-SHA256", "is_connection": True, "remote_addr": LB,
        "proxy_protocol_addr": CLIENT, "server_name": "api.example.com", "line": 11}
    assert session["ts"].timestamp() == pytest.approx(T0 + 2.004)  # its ClientHello
    hellos = rows(batch, "client_hellos")
    assert [(h["outcome"], h["has_fallback_scsv"], h["proxy_version"], h["alert_from"]) for h in hellos] == [
        ("inappropriate_fallback", True, 2, "server"), ("ok", False, 2, None)]
    assert [(h["src_addr"], h["src_port"], h["version"], h["line"]) for h in rows(batch, "proxy_headers")] == [
        (CLIENT, 40000, 2, 4), (CLIENT, 40001, 2, 11)]
    assert (batch.lines, batch.parsed, batch.skipped, batch.rejected) == (17, 17, 0, 0)


def one_hello(batch: Batch) -> dict[str, Any]:
    (hello,) = rows(batch, "client_hellos")
    return hello


def fallback_conv() -> P.Conversation:
    c = conv().handshake()
    c.send("c", P.report_fallback_hello()).send("s", P.alert(86, version=0x0301)).fin("s").fin("c")
    return c


def test_the_reports_fallback_hello_from_a_capture() -> None:
    # reference/client-fallback.md §6
    h = one_hello(read(P.pcap_bytes(fallback_conv().packets)))
    assert (h["hello_version"], len(h["cipher_suites"]), h["has_fallback_scsv"], h["alpn"], h["groups"]) == (
        "TLSv1", 14, True, ["h2-16", "spdy/3.1", "http/1.1"], [23, 24, 25])
    assert (h["client_addr"], h["lb_addr"], h["outcome"], h["line"], h["client_port"]) == (
        LB, None, "inappropriate_fallback", 4, 50000)
    assert h["ja3_string"] == ("769,49162-49161-49171-49172-49159-49169-51-57-47-53-10-5-4-22016,"
                               "0-65281-10-11-35-16,23-24-25,0")
    assert h["ja4"].startswith("t10d1406h6_")  # JA4.md: first and last characters of "h2-16"


@pytest.mark.parametrize("link", [0, 1, 12, 101, 113, 276])
def test_link_types(link: int) -> None:
    # pcap LINKTYPE_NULL, ETHERNET, RAW (12 and 101), LINUX_SLL, LINUX_SLL2
    h = one_hello(read(P.pcap_bytes(fallback_conv().packets, link=link)))
    assert (h["sni"], h["line"], h["outcome"]) == ("api.example.com", 4, "inappropriate_fallback")


def test_raw_ipv4_and_ipv6_link_types() -> None:
    v4 = fallback_conv().packets
    v6 = P.Conversation("2001:db8::7", "2001:db8::1").handshake()
    v6.send("c", P.tls12_hello()).send("s", P.alert(40)).rst("c")
    assert one_hello(read(P.pcap_bytes(v4, link=228)))["client_addr"] == LB
    batch = read(P.pcap_bytes(v6.packets, link=229))
    assert one_hello(batch)["client_addr"] == "2001:db8::7"
    (fail,) = rows(batch, "handshake_failures")
    assert (fail["server_addr"], fail["reason"], fail["alert_name"]) == ("[2001:db8::1]:443", "other", "handshake_failure")


@pytest.mark.parametrize(("kind", "data"), [
    ("pcapng", lambda pk: P.pcapng_bytes(pk)),
    ("nanosecond", lambda pk: P.pcap_bytes(pk, nano=True)),
    ("big-endian", lambda pk: P.pcap_bytes(pk, big_endian=True)),
    ("big-endian nanosecond", lambda pk: P.pcap_bytes(pk, big_endian=True, nano=True)),
])
def test_file_formats(kind: str, data: Any) -> None:
    raw = data(fallback_conv().packets)
    assert sniff_pcap(raw[:4])
    h = one_hello(read(raw))
    assert h["ts"].timestamp() == pytest.approx(T0 + 0.004, abs=1e-6), kind


def test_sniff_pcap_rejects_text() -> None:
    assert not sniff_pcap(b"2026/")


def hello_conv(order: str) -> list[P.Packet]:
    c = conv().handshake()
    hello = P.proxy_v1(CLIENT, "203.0.113.7", 40000, 443) + P.report_fallback_hello()
    c.send("c", hello, split=[20, 50, 90])  # the hello in four segments
    c.send("s", P.alert(86, version=0x0301)).fin("s").fin("c")
    pk = c.packets
    segs = pk[3:7]
    if order == "reversed":
        segs = segs[::-1]
    elif order == "retransmitted":  # each segment twice, plus one overlapping the first two
        t, _first = segs[0]
        overlap = P.ip_packet(LB, NGINX, 50000, 443, 1001, 5001, P.ACK, hello[:50])
        segs = [segs[0], segs[0], (t, overlap), segs[1], segs[1], segs[2], segs[3], segs[2]]
    return [*pk[:3], *segs, *pk[7:]]


@pytest.mark.parametrize("order", ["in order", "reversed", "retransmitted"])
def test_reassembly(order: str) -> None:
    batch = read(P.pcap_bytes(hello_conv(order)))
    h = one_hello(batch)
    assert (h["client_addr"], h["lb_addr"], len(h["cipher_suites"]), h["proxy_version"], h["outcome"]) == (
        CLIENT, LB, 14, 1, "inappropriate_fallback")
    # line: the packet that carried the hello's first byte (the segment at offset 20)
    expected = {"in order": 5, "reversed": 6, "retransmitted": 6}[order]
    assert h["line"] == expected
    assert len(rows(batch, "handshake_failures")) == 1


def test_proxy_v1_tcp6_and_ipv6_transport() -> None:
    c = P.Conversation("2001:db8:1::23", "2001:db8:2::10").handshake()
    c.send("c", P.proxy_v1("2001:db8::7", "2001:db8::1", 40000, 443) + P.tls13_hello())
    c.send("s", P.server_hello(0x0303, 0x1301, selected=0x0304) + P.ccs() + P.appdata(2000))
    c.send("c", P.ccs() + P.appdata(53)).send("c", P.appdata(300))
    batch = read(P.pcap_bytes(c.packets))
    (s,) = rows(batch, "tls_sessions")
    assert (s["client_addr"], s["remote_addr"], s["ssl_protocol"], s["ssl_cipher"]) == (
        "2001:db8::7", "2001:db8:1::23", "TLSv1.3", "TLS_AES_128_GCM_SHA256")
    h = one_hello(batch)
    assert (h["versions"], h["server_version"], h["outcome"]) == (["TLSv1.3", "TLSv1.2"], "TLSv1.3", "ok")


@pytest.mark.parametrize(("header", "src", "is_real"), [
    (P.proxy_v2(command=0, fam=0x00), None, False),  # LOCAL (NLB health check style)
    (P.proxy_v2(fam=0x00), None, False),  # PROXY + AF_UNSPEC
    (b"PROXY UNKNOWN\r\n", None, False),
    (P.proxy_v2(fam=0x31, block=bytes(216)), None, False),  # AF_UNIX
    (P.proxy_v2("192.0.2.1", "203.0.113.7", 56324, 443, tlvs=[(0xEA, b"\x01vpce-0123456789abcdef0")]),
     "192.0.2.1", True),
])
def test_proxy_headers_that_name_no_client(header: bytes, src: str | None, is_real: bool) -> None:
    c = conv().handshake()
    c.send("c", header + P.tls12_hello()).send("s", P.alert(40)).fin("s").fin("c")
    batch = read(P.pcap_bytes(c.packets))
    (ph,) = rows(batch, "proxy_headers")
    assert ph["src_addr"] == src
    (fail,) = rows(batch, "handshake_failures")
    assert (fail["client_addr"], fail["client_is_real"], fail["lb_addr"]) == (src or LB, is_real, LB)
    assert fail["attribution"] == ("pcap_proxy_header" if is_real else "pcap_tcp_peer")


@pytest.mark.parametrize(("payload", "reason", "text"), [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "plain_http", "plain HTTP request: GET / HTTP/1.1"),
    (b"\x80\x2e\x01\x00\x02" + bytes(40), "not_tls", "SSLv2-format ClientHello"),
    (b"SSH-2.0-OpenSSH_9.6\r\n", "not_tls", "first bytes are not a TLS record: 53 53 48"),
    (P.proxy_v1(CLIENT, "203.0.113.7", 1, 443) + b"\x00garbage" + bytes(20), "not_tls",
     "first bytes after the PROXY header are not a TLS record: 00 67"),
    (P.proxy_v1(CLIENT, "203.0.113.7", 1, 443) + b"POST /x HTTP/1.1\r\n\r\n", "plain_http",
     "plain HTTP request after the PROXY header: POST /x HTTP/1.1"),
    (b"\x16\x03\x01\x7f\xff" + bytes(10), "not_tls", "record of 32767 bytes is longer than TLS allows"),
])
def test_not_tls(payload: bytes, reason: str, text: str) -> None:
    c = conv().handshake()
    c.send("c", payload).rst("s")
    batch = read(P.pcap_bytes(c.packets))
    (fail,) = rows(batch, "handshake_failures")
    assert fail["reason"] == reason
    assert text in fail["reason_text"]
    assert rows(batch, "client_hellos") == []


@pytest.mark.parametrize(("header", "error"), [
    (P.proxy_v2("192.0.2.1", "203.0.113.7", 1, 443, length=65535), "larger than 4096"),
    (b"PROXY TCP4 1.2.3.4\r\n", "broken v1 header"),
])
def test_bad_proxy_header_is_rejected_not_a_crash(header: bytes, error: str) -> None:
    c = conv().handshake()
    c.send("c", header + P.tls12_hello()).rst("s")
    batch = read(P.pcap_bytes(c.packets))
    assert rows(batch, "handshake_failures") == []
    (rej,) = rows(batch, "rejects")
    assert (rej["line"], rej["kind"]) == (4, "pcap")
    assert error in rej["error"]
    assert batch.rejected == 1
    assert batch.meta["pcap"]["bad_proxy"] == 1  # type: ignore[index]
    assert any("malformed PROXY header" in w for w in batch.warnings)


@pytest.mark.parametrize(("server", "client_after", "reason", "alert_name", "outcome"), [
    (P.alert(70), b"", "unsupported_protocol", "protocol_version", "protocol_version"),
    (P.server_hello() + P.record(22, bytes(2000)), P.alert(48), "client_rejected_cert", "unknown_ca", "unknown_ca"),
    (P.server_hello() + P.record(22, bytes(2000)), P.alert(50), "peer_alert", "decode_error", "decode_error"),
    (P.server_hello() + P.record(22, bytes(2000)), P.alert(0, level=1), "peer_closed", "close_notify", "close_notify"),
    # TLS 1.3: the client's alert is encrypted (19 bytes: 2 + content type + 16-byte tag)
    (P.server_hello(0x0303, 0x1301, selected=0x0304) + P.ccs() + P.appdata(2000), P.appdata(19),
     "peer_alert", None, "encrypted_alert"),
])
def test_alert_outcomes(server: bytes, client_after: bytes, reason: str, alert_name: str | None, outcome: str) -> None:
    c = conv().handshake()
    c.send("c", P.tls13_hello()).send("s", server)
    if client_after:
        c.send("c", client_after)
    c.fin("c").fin("s")
    batch = read(P.pcap_bytes(c.packets))
    (fail,) = rows(batch, "handshake_failures")
    assert (fail["reason"], fail["alert_name"], one_hello(batch)["outcome"]) == (reason, alert_name, outcome)
    assert fail["client_is_real"] is None  # no PROXY header: the capture cannot tell (SPEC §4)


def test_unrecognized_name_warning_does_not_end_the_handshake() -> None:
    # RFC 6066 §3: a warning-level unrecognized_name may be followed by a normal handshake
    c = conv().handshake()
    c.send("c", P.tls12_hello()).send("s", P.alert(112, level=1) + P.server_hello())
    c.send("c", P.ccs()).send("s", P.ccs())
    assert one_hello(read(P.pcap_bytes(c.packets)))["outcome"] == "ok"


@pytest.mark.parametrize(("end", "outcome", "text"), [
    ("rst", "reset", "connection reset (RST from the server)"),
    ("fin", "closed", "connection closed (FIN)"),
])
def test_closed_and_reset(end: str, outcome: str, text: str) -> None:
    c = conv().handshake()
    c.send("c", P.tls12_hello())
    if end == "rst":
        c.rst("s")
    else:
        c.fin("c").fin("s")
    batch = read(P.pcap_bytes(c.packets))
    (fail,) = rows(batch, "handshake_failures")
    assert (fail["reason"], one_hello(batch)["outcome"]) == ("peer_closed", outcome)
    assert text in fail["reason_text"]


def test_incomplete_at_capture_end_is_not_a_failure_but_a_stall_is_a_timeout() -> None:
    c = conv().handshake()
    c.send("c", P.tls12_hello())
    batch = read(P.pcap_bytes(c.packets))
    assert one_hello(batch)["outcome"] == "incomplete"
    assert rows(batch, "handshake_failures") == []
    later = conv(50001, T0 + 90).handshake()  # the capture goes on 90 s after the stall
    batch = read(P.pcap_bytes(c.packets + later.packets))
    (fail,) = rows(batch, "handshake_failures")
    assert fail["reason"] == "timeout"


def test_snaplen_cut_hello_still_gives_the_server_alert() -> None:
    pk = fallback_conv().packets
    batch = read(P.pcap_bytes(pk, snaplen=96))  # Ethernet 14 + IP 20 + TCP 20 + 42 bytes of TLS
    assert rows(batch, "client_hellos") == []
    (fail,) = rows(batch, "handshake_failures")
    assert fail["reason"] == "inappropriate_fallback"
    assert batch.meta["pcap"]["cut"] == 1  # type: ignore[index]
    assert any("snaplen" in w for w in batch.warnings)


def test_truncated_capture_file() -> None:
    data = P.pcap_bytes(fallback_conv().packets)
    for cut in (len(data) - 3, len(data) - 40, 24 + 16 + 5):
        batch = read(data[:cut])
        assert batch.lines <= 7


def test_truncated_capture_file_warns_and_keeps_what_it_read() -> None:
    data = P.pcap_bytes(fallback_conv().packets)
    batch = read(data[:-70] + data[-70:-60])  # the last record header cut in two
    assert batch.lines == 6
    assert any("capture ends inside packet 7" in w for w in batch.warnings)
    assert one_hello(batch)["outcome"] == "inappropriate_fallback"


def test_mid_stream_connections_give_no_rows() -> None:
    c = conv().handshake()
    c.send("c", P.tls12_hello()).send("s", P.server_hello()).send("c", P.ccs()).send("s", P.ccs())
    c.send("c", P.appdata(100)).send("s", P.appdata(100)).send("c", P.appdata(100))
    late = c.packets[-3:]  # the capture started after the handshake
    batch = read(P.pcap_bytes(late))
    assert all(t.num_rows == 0 for t in batch.tables.values())
    assert batch.meta["pcap"]["mid_stream"] == 1  # type: ignore[index]
    assert (batch.parsed, batch.skipped) == (0, 3)


def test_without_syn_the_hello_names_the_client() -> None:
    pk = fallback_conv().packets[3:]  # no TCP handshake in the capture
    h = one_hello(read(P.pcap_bytes(pk)))
    assert (h["client_addr"], h["server_addr"], h["outcome"]) == (LB, NGINX, "inappropriate_fallback")


def test_lb_networks_are_not_applied_by_the_reader() -> None:
    # SPEC §4: tables hold evidence; which peers are load balancers is decided at report time
    batch = read(P.pcap_bytes(fallback_conv().packets), Options(lb_networks=[ipaddress.ip_network("10.0.1.0/24")]))
    (fail,) = rows(batch, "handshake_failures")
    assert (fail["client_addr"], fail["client_is_real"], fail["lb_addr"], fail["attribution"]) == (
        LB, None, None, "pcap_tcp_peer")


def test_ports_option_and_non_tcp_packets_are_counted() -> None:
    other = conv(50001).handshake()
    other.ends["s"] = (NGINX, 8443)
    other.send("c", P.tls12_hello())
    udp = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 36, 0, 0, 64, 17, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    udp += struct.pack(">HHHH", 53, 53, 16, 0) + bytes(8)
    pk = fallback_conv().packets + other.packets + [(T0 + 5, udp)]
    batch = read(P.pcap_bytes(pk), ports={443})
    assert len(rows(batch, "client_hellos")) == 1
    assert (batch.lines, batch.parsed, batch.skipped) == (7 + 4 + 1, 7, 5)
    assert len(rows(read(P.pcap_bytes(pk)), "client_hellos")) == 2  # default: every port


def test_undecodable_packets_are_rejected_with_their_number() -> None:
    pk = [*fallback_conv().packets, (T0 + 9, b"\x45\x00")]
    batch = read(P.pcap_bytes(pk, link=101))
    (rej,) = rows(batch, "rejects")
    assert (rej["line"], rej["error"]) == (8, "packet too short for its link/IP headers")
    assert (batch.rejected, batch.parsed) == (1, 7)


def test_port_reuse_gives_two_connections() -> None:
    a = fallback_conv()
    b = P.Conversation(LB, NGINX, cport=50000, t0=T0 + 3, isn=(90000, 70000)).handshake()
    b.send("c", P.tls12_hello()).send("s", P.server_hello()).send("c", P.ccs()).send("s", P.ccs())
    batch = read(P.pcap_bytes(a.packets + b.packets))
    assert [h["outcome"] for h in rows(batch, "client_hellos")] == ["inappropriate_fallback", "ok"]


def test_vlan_tagged_ethernet() -> None:
    tagged = [(t, b"\x00" * 12 + b"\x81\x00\x00\x64" + P.frame(p, 1)[12:]) for t, p in fallback_conv().packets]
    h = one_hello(read(P.pcap_bytes(tagged, wrap=False)))
    assert h["outcome"] == "inappropriate_fallback"


def test_empty_connection_is_a_marked_row() -> None:
    # A TCP health check: connect, then close, no byte.  Recorded (marked) so that the
    # report counts health checks exactly when a capture exists (logcorr.classify).
    c = conv().handshake().fin("c").fin("s")
    batch = read(P.pcap_bytes(c.packets))
    (fail,) = rows(batch, "handshake_failures")
    assert (fail["reason"], fail["action"], fail["client_addr"], fail["client_is_real"]) == (
        "peer_closed", "connect_close", LB, None)
    assert fail["reason_text"] == "connection closed (FIN) before the client sent a byte of TLS"
    assert all(t.num_rows == 0 for name, t in batch.tables.items() if name != "handshake_failures")
    assert batch.meta["pcap"]["empty"] == 1  # type: ignore[index]


@pytest.mark.parametrize("alert_first", [True, False])
def test_alert_failure_and_connect_close_in_either_order(alert_first: bool) -> None:
    # The messy lab's web-2 relay.pcap (tests/lab/relay.py): the relay carries a client whose
    # PROXY v1 header + fallback hello nginx refuses with alert 86 (RFC 7507), and the relay's
    # own health check connects from the same LB address and closes with no byte.  The first
    # row's shape used to decide the columns: alert first -> KeyError 'alert' (the read failed);
    # health check first -> the alert column was silently dropped for every row.
    a = conv().handshake()
    a.send("c", P.proxy_v1(CLIENT, NGINX, 40000, 443) + P.tls12_hello(scsv=True))
    a.send("s", P.alert(86)).fin("s").fin("c")
    b = conv(50001, T0 + 2).handshake().fin("c").fin("s")
    batch = read(P.pcap_bytes(a.packets + b.packets if alert_first else b.packets + a.packets))
    got = {f["action"]: (f["reason"], f["alert"], f["alert_name"]) for f in rows(batch, "handshake_failures")}
    assert got == {"SSL handshaking": ("inappropriate_fallback", 86, "inappropriate_fallback"),
                   "connect_close": ("peer_closed", None, None)}
    assert (batch.parsed, batch.rejected) == (len(a.packets) + len(b.packets), 0)


def test_empty_connection_still_open_at_the_end_gives_no_row() -> None:
    c = conv().handshake()
    batch = read(P.pcap_bytes(c.packets))
    assert all(t.num_rows == 0 for t in batch.tables.values())
    assert batch.meta["pcap"]["empty"] == 1  # type: ignore[index]


def test_server_closing_an_idle_connection_is_a_timeout() -> None:
    # nginx-logs.md §3: no ClientHello within client_header_timeout -> nginx closes and logs
    # "client timed out (110: ...) while SSL handshaking"; the capture sees the server's FIN first.
    c = conv().handshake().send("c", P.proxy_v1("198.51.100.30", "127.0.0.1", 40000, 443)).fin("s").fin("c")
    failures = rows(read(P.pcap_bytes(c.packets)), "handshake_failures")
    assert [(f["client_addr"], f["reason"]) for f in failures] == [("198.51.100.30", "timeout")]


class _Pipe(io.RawIOBase):
    """A stream that cannot seek, like a pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        chunk = self._data.read(len(b))
        b[:len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_non_seekable_stream(fmt: str) -> None:
    pk = fallback_conv().packets
    data = P.pcap_bytes(pk) if fmt == "pcap" else P.pcapng_bytes(pk)
    batch = PcapReader("cap", Options()).read(io.BufferedReader(_Pipe(data)))  # type: ignore[arg-type]
    assert one_hello(batch)["outcome"] == "inappropriate_fallback"


def test_not_a_capture_is_an_input_error() -> None:
    from logcorr.errors import InputError

    with pytest.raises(InputError, match="not a readable pcap/pcapng capture"):
        read(b"\xd4\xc3\xb2\xa1" + b"\x00" * 5)
    with pytest.raises(InputError, match="link type 105 is not supported"):
        read(P.pcap_bytes([], link=105))


def test_proxy_local_connection_is_a_marked_row() -> None:
    # proxy-protocol.md §2.2: LOCAL is the proxy's own connection (an NLB-style health check)
    c = conv().handshake().send("c", P.proxy_v2(command=0, fam=0x00)).fin("c").fin("s")
    batch = read(P.pcap_bytes(c.packets))
    (fail,) = rows(batch, "handshake_failures")
    assert (fail["reason"], fail["action"], fail["client_addr"], fail["client_is_real"], fail["lb_addr"]) == (
        "peer_closed", "proxy_local", LB, False, LB)
    assert fail["reason_text"] == "connection closed (FIN) before the client sent a byte of TLS (PROXY v2 LOCAL)"


def test_a_named_clients_no_byte_close_is_its_own() -> None:
    # a scanner's connect-then-close through a PROXY relay: the header names it
    c = conv().handshake().send("c", P.proxy_v2(CLIENT, "203.0.113.7", 40000, 443)).fin("c").fin("s")
    (fail,) = rows(read(P.pcap_bytes(c.packets)), "handshake_failures")
    assert (fail["client_addr"], fail["client_is_real"], fail["lb_addr"], fail["attribution"], fail["action"]) == (
        CLIENT, True, LB, "pcap_proxy_header", "connect_close")
