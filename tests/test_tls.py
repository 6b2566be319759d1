"""ClientHello/ServerHello/alert parsing and the incremental record reader.

Every hello is built in code (tests/packets.py) from the RFC layout; the report's
fallback hello follows reference/client-fallback.md §6.
"""

from __future__ import annotations

import pytest

from logcorr.sources import tls
from tests import packets as P


def events(data: bytes, hello_type: int = 1, step: int | None = None) -> list[tls.Event]:
    rs = tls.RecordStream(hello_type)
    if step is None:
        return rs.feed(data)
    out: list[tls.Event] = []
    for i in range(0, len(data), step):
        out.extend(rs.feed(data[i:i + step]))
    return out


def test_report_fallback_hello() -> None:
    # reference/client-fallback.md §6: TLS 1.0, 14 suites with SCSV last, ALPN h2-16/spdy/3.1/http/1.1
    (ev,) = events(P.report_fallback_hello())
    hello = ev.value
    assert isinstance(hello, tls.ClientHello)
    assert tls.version_name(hello.legacy_version) == "TLSv1"
    assert len(hello.cipher_suites) == 14
    assert hello.cipher_suites[-1] == 0x5600
    assert hello.has_fallback_scsv is True
    assert hello.alpn == ("h2-16", "spdy/3.1", "http/1.1")
    assert hello.groups == (23, 24, 25)
    assert hello.sni == "api.example.com"
    assert hello.session_ticket is True
    assert hello.renegotiation_info is True  # the extension, not the 0x00FF suite
    assert 0x00FF not in hello.cipher_suites
    assert hello.versions == []


@pytest.mark.parametrize(("record", "field", "expected"), [
    # RFC 8446 §4.2.1 supported_versions with a GREASE value first (RFC 8701 §2)
    (P.client_hello(0x0303, [0x1301], [P.ext_versions([0x7A7A, 0x0304, 0x0303])]), "versions", ["TLSv1.3", "TLSv1.2"]),
    (P.client_hello(0x0303, [0x1301], [P.ext_versions([0x0304])]), "supported_versions", (0x0304,)),
    # RFC 6066 §3 server_name
    (P.client_hello(0x0303, [0xC02F], [P.ext_sni("www.example.org")]), "sni", "www.example.org"),
    # RFC 5246 §7.4.1.4.1 signature_algorithms, order kept
    (P.client_hello(0x0303, [0xC02F], [P.ext_u16s(0x000D, [0x0804, 0x0403])]), "sig_algs", (0x0804, 0x0403)),
    # RFC 8422 §5.1.2 ec_point_formats
    (P.client_hello(0x0303, [0xC02F], [P.ext_point_formats([0, 1, 2])]), "ec_point_formats", (0, 1, 2)),
    # extension order as sent, GREASE kept in the raw list
    (P.client_hello(0x0303, [0xC02F], [P.ext(0x0A0A), P.ext(0x0017), P.ext(0xFF01, b"\x00")]),
     "extensions", (0x0A0A, 0x0017, 0xFF01)),
    # record version differs from legacy_version (RFC 8446 §5.1: 0x0301 for compatibility)
    (P.client_hello(0x0303, [0xC02F], [], record_version=0x0301), "record_version", 0x0301),
    # no extensions block at all (SSLv3-era hello, RFC 5246 §7.4.1.2)
    (P.client_hello(0x0300, [0x000A], None), "extensions", ()),
])
def test_client_hello_fields(record: bytes, field: str, expected: object) -> None:
    (ev,) = events(record)
    assert getattr(ev.value, field) == expected


def test_hello_split_byte_by_byte_and_across_records() -> None:
    hello = P.report_fallback_hello()
    assert events(hello, step=1)[0].value == events(hello)[0].value
    # RFC 5246 §6.2.1: one handshake message may span records
    body = hello[5:]
    two = P.record(22, body[:40]) + P.record(22, body[40:])
    (ev,) = events(two, step=7)
    assert ev.kind == "hello"
    assert ev.value == events(hello)[0].value


def test_server_side_events() -> None:
    data = (P.server_hello(0x0303, 0x1301, selected=0x0304) + P.ccs() + P.appdata(100)
            + P.alert(86, version=0x0301) + P.record(21, bytes(26)))
    evs = events(data, hello_type=2, step=5)
    assert [e.kind for e in evs] == ["server_hello", "ccs", "appdata", "alert", "alert"]
    sh = evs[0].value
    assert isinstance(sh, tls.ServerHello)
    assert (sh.version, sh.cipher_suite, sh.is_retry) == (0x0304, 0x1301, False)
    assert evs[2].length == 100
    assert evs[3].value == (2, 86)
    assert evs[4].value is None  # 26-byte alert: encrypted
    assert tls.alert_name(86) == "inappropriate_fallback"
    assert tls.alert_name(200) == "alert_200"


def test_hello_retry_request_waits_for_the_real_server_hello() -> None:
    # RFC 8446 §4.1.3: HelloRetryRequest is a ServerHello with a fixed random
    data = (P.server_hello(0x0303, 0x1301, selected=0x0304, random=tls.HRR_RANDOM)
            + P.server_hello(0x0303, 0x1302, selected=0x0304))
    evs = events(data, hello_type=2)
    assert [(e.value.is_retry, e.value.cipher_suite) for e in evs] == [(True, 0x1301), (False, 0x1302)]  # type: ignore[union-attr]


@pytest.mark.parametrize(("data", "error"), [
    (b"GET / HTTP/1.1\r\n\r\n", "not a TLS record"),
    (b"\x16\x03\x01\xff\xff" + bytes(10), "longer than TLS allows"),  # 65535 > 2^14 + 2048
    (P.record(22, P.handshake(2, bytes(40))), "not a hello"),
    (P.record(22, P.handshake(1, bytes(10))), "shorter than version + random"),
    (P.record(22, b"\x01\xff\xff\xff"), "longer than 65536"),
])
def test_bad_client_streams_stop_with_an_error(data: bytes, error: str) -> None:
    rs = tls.RecordStream(1)
    evs = rs.feed(data)
    assert evs[-1].kind == "error"
    assert error in str(evs[-1].value)
    assert rs.feed(P.report_fallback_hello()) == []  # stays stopped


def test_is_grease() -> None:
    assert [v for v in (0x0A0A, 0xFAFA, 0x0A1A, 0x1301) if tls.is_grease(v)] == [0x0A0A, 0xFAFA]
