"""PROXY protocol v1/v2 headers (reference/proxy-protocol.md, HAProxy spec 2020/03/05)."""

from __future__ import annotations

import pytest

from logcorr.sources import proxyproto as pp
from tests import packets as P

# reference/proxy-protocol.md §2.1 "Example headers, constructed from the spec"
REF_V2_TCP4 = bytes.fromhex("0d0a0d0a000d0a515549540a2111000cc0000201cb007107dc0401bb")
REF_V2_VPCE = bytes.fromhex(
    "0d0a0d0a000d0a515549540a21110026c0000201cb007107dc0401bb"
    "ea001701" + b"vpce-0123456789abcdef0".hex())
REF_V2_LOCAL = bytes.fromhex("0d0a0d0a000d0a515549540a20000000")


@pytest.mark.parametrize(("raw", "expected"), [
    # PP §2.1 example
    (b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
     {"version": 1, "family": "TCP4", "src_addr": "192.168.0.1", "src_port": 56324, "dst_addr": "192.168.0.11", "dst_port": 443, "length": 47}),
    # Classic ELB docs example (reference §1), IPv6 in the docs' spelling
    (b"PROXY TCP6 2001:DB8::21f:5bff:febf:ce22:8a2e 2001:DB8::12f:8baa:eafc:ce29:6b2e 35646 80\r\n",
     {"family": "TCP6", "src_addr": "2001:db8:0:21f:5bff:febf:ce22:8a2e", "src_port": 35646, "dst_port": 80}),
    # PP §2.1: UNKNOWN, the rest of the line ignored
    (b"PROXY UNKNOWN\r\n", {"family": "UNKNOWN", "src_addr": None, "length": 15}),
    (b"PROXY UNKNOWN ffff:f::1 ffff:f::2 65535 65535\r\n", {"family": "UNKNOWN", "src_addr": None}),
    (REF_V2_TCP4, {"version": 2, "command": "PROXY", "family": "TCP4", "src_addr": "192.0.2.1", "src_port": 56324,
                       "dst_addr": "203.0.113.7", "dst_port": 443, "length": 28, "tlvs": ()}),
    (REF_V2_VPCE, {"family": "TCP4", "src_addr": "192.0.2.1", "length": 54, "vpce_id": "vpce-0123456789abcdef0"}),
    (REF_V2_LOCAL, {"command": "LOCAL", "family": "UNSPEC", "src_addr": None, "length": 16, "names_client": False}),
    # PP §2.2 AF_INET6 block, with ALPN and AUTHORITY TLVs
    (P.proxy_v2("2001:db8::7", "2001:db8::1", 40000, 443, tlvs=[(0x01, b"h2"), (0x02, b"api.example.com")]),
     {"family": "TCP6", "src_addr": "2001:db8::7", "src_port": 40000, "names_client": True,
          "tlvs": ((0x01, b"h2"), (0x02, b"api.example.com"))}),
    # PP §2.2 AF_UNSPEC with PROXY command: no addresses
    (P.proxy_v2(fam=0x00), {"command": "PROXY", "family": "UNSPEC", "src_addr": None}),
    # PP §2.2 AF_UNIX: 216-byte block; names no IP client
    (P.proxy_v2(fam=0x31, block=b"/run/a.sock".ljust(108, b"\0") + b"/run/b.sock".ljust(108, b"\0")),
     {"family": "UNIX", "src_addr": None, "dst_addr": "/run/b.sock", "length": 232, "names_client": False}),
    # LOCAL with an INET block (NLB health checks may send one): block skipped
    (P.proxy_v2("10.0.0.1", "10.0.0.2", 1, 2, command=0), {"command": "LOCAL", "src_addr": None, "length": 28}),
])
def test_parse_header(raw: bytes, expected: dict[str, object]) -> None:
    header = pp.parse_header(raw + b"\x16\x03\x01")
    assert header is not None
    for key, value in expected.items():
        assert getattr(header, key) == value, key


@pytest.mark.parametrize(("raw", "error"), [
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n", "broken v1 header"),
    (b"PROXY TCP4 1.2.3.999 5.6.7.8 80 443\r\n", "bad address"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 080 443\r\n", "bad port"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 70000 443\r\n", "bad port"),
    (b"PROXY TCP6 1.2.3.4 5.6.7.8 1 443\r\n", "bad address"),
    (b"PROXY " + b"A" * 120, "no CRLF in the first 107 bytes"),
    (P.proxy_v2("192.0.2.1", "203.0.113.7", 1, 443, length=60000), "larger than 4096"),
    (P.proxy_v2("192.0.2.1", "203.0.113.7", 1, 443, length=4), "shorter than its 12-byte address block"),
    (P.V2_SIG + b"\x31\x11\x00\x0c" + bytes(12), "unknown PROXY protocol version 3"),
    (P.V2_SIG + b"\x22\x11\x00\x0c" + bytes(12), "unknown v2 command 2"),
    (P.V2_SIG + b"\x21\x41\x00\x0c" + bytes(12), "unknown v2 address family"),
    # a TLV whose length (9) overruns the header's own length (12 + 3 + 2)
    (P.proxy_v2(block=bytes(12), fam=0x11, length=17) + b"\x01\x00\x09h2", "runs past"),
])
def test_bad_headers_raise(raw: bytes, error: str) -> None:
    with pytest.raises(pp.ProxyError, match=error):
        pp.parse_header(raw + bytes(300))


@pytest.mark.parametrize("cut", [1, 5, 12, 15, 20, 27])
def test_incomplete_v2_needs_more(cut: int) -> None:
    assert pp.parse_header(REF_V2_TCP4[:cut]) is None if cut >= 12 else pp.looks_like_proxy(REF_V2_TCP4[:cut]) is None


def test_incomplete_v1_needs_more() -> None:
    assert pp.parse_header(b"PROXY TCP4 192.168.0.1 19") is None
    assert pp.looks_like_proxy(b"PRO") is None
    assert pp.looks_like_proxy(b"\x16\x03\x01") is False
    assert pp.looks_like_proxy(b"PROXY ") is True


def test_crc32c_tlv_is_verified() -> None:
    assert pp.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value (RFC 3720 B.4)
    zero = P.proxy_v2("192.0.2.1", "203.0.113.7", 1, 443, tlvs=[(0x03, bytes(4))])
    good = zero[:-4] + pp.crc32c(zero).to_bytes(4, "big")
    header = pp.parse_header(good)
    assert header is not None
    assert header.tlv(0x03) == good[-4:]
    with pytest.raises(pp.ProxyError, match="CRC32C"):
        pp.parse_header(zero[:-4] + b"\x00\x00\x00\x01")
