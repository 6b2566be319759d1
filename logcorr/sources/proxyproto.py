"""PROXY protocol v1 and v2 headers: the real client behind a TCP load balancer.

The grammar is the HAProxy specification, ``doc/proxy-protocol.txt`` (revision
2020/03/05), summarised in ``reference/proxy-protocol.md`` §1–§2; section numbers below
("PP §2.2") are that document's.  Limits follow nginx (``src/core/ngx_proxy_protocol.c``):
a v1 line has at most 107 bytes, a v2 header at most 4096 bytes in total
(``NGX_PROXY_PROTOCOL_MAX_HEADER``); nginx drops anything longer, and so do we.

:func:`parse_header` takes the first bytes of a client stream and answers one of three
ways: a :class:`ProxyHeader`, ``None`` (not enough bytes yet), or :class:`ProxyError`
(the bytes announce a header that is malformed).  :func:`looks_like_proxy` decides
whether a stream starts with a header at all.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"  # PP §2.2
V1_PREFIX = b"PROXY "
V1_MAX = 107  # PP §2.1: worst case "PROXY UNKNOWN ffff:... ffff:... 65535 65535\r\n"
V2_MAX = 4096  # nginx NGX_PROXY_PROTOCOL_MAX_HEADER: "header is too large" beyond it

# v2 family nibble → (name, address block length); PP §2.2.
_FAMILIES = {0x0: ("UNSPEC", 0), 0x1: ("INET", 12), 0x2: ("INET6", 36), 0x3: ("UNIX", 216)}
_TRANSPORTS = {0x0: "UNSPEC", 0x1: "STREAM", 0x2: "DGRAM"}

TLV_ALPN, TLV_AUTHORITY, TLV_CRC32C, TLV_NOOP, TLV_UNIQUE_ID = 0x01, 0x02, 0x03, 0x04, 0x05
TLV_SSL, TLV_NETNS = 0x20, 0x30
TLV_AWS, AWS_VPCE_ID = 0xEA, 0x01  # AWS NLB: PP2_TYPE_AWS, subtype PP2_SUBTYPE_AWS_VPCE_ID


class ProxyError(ValueError):
    """A PROXY header that a receiver must refuse (nginx: ``broken header``)."""


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """One PROXY header.  ``src_addr`` is None for LOCAL, UNSPEC and UNKNOWN headers,
    which name no client (PP §2.1, §2.2; reference/proxy-protocol.md §2.3)."""

    version: int
    length: int  # bytes the header takes in the stream
    command: str = "PROXY"  # PROXY | LOCAL
    family: str = "UNKNOWN"  # TCP4 | TCP6 | UDP4 | UDP6 | UNIX | UNSPEC | UNKNOWN
    src_addr: str | None = None
    src_port: int | None = None
    dst_addr: str | None = None
    dst_port: int | None = None
    tlvs: tuple[tuple[int, bytes], ...] = field(default=())

    @property
    def names_client(self) -> bool:
        return self.src_addr is not None and self.family in ("TCP4", "TCP6", "UDP4", "UDP6")

    @property
    def vpce_id(self) -> str | None:
        """AWS VPC endpoint id (TLV 0xEA subtype 0x01), when the NLB sent one."""
        for kind, value in self.tlvs:
            if kind == TLV_AWS and value[:1] == bytes([AWS_VPCE_ID]):
                return value[1:].decode("ascii", "backslashreplace")
        return None

    def tlv(self, kind: int) -> bytes | None:
        return next((v for k, v in self.tlvs if k == kind), None)


def looks_like_proxy(head: bytes) -> bool | None:
    """Does a stream starting with ``head`` start with a PROXY header?  None: too short to say."""
    for prefix in (V2_SIGNATURE, V1_PREFIX):
        n = min(len(head), len(prefix))
        if head[:n] == prefix[:n]:
            return True if n == len(prefix) else None
    return False


def parse_header(buf: bytes) -> ProxyHeader | None:
    """Parse the PROXY header at the start of ``buf``; None when more bytes are needed."""
    if buf.startswith(V2_SIGNATURE):
        return _parse_v2(buf)
    if buf.startswith(V1_PREFIX):
        return _parse_v1(buf)
    raise ProxyError("not a PROXY protocol header")


def _parse_v1(buf: bytes) -> ProxyHeader | None:
    end = buf.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        if len(buf) >= V1_MAX:
            raise ProxyError(f"no CRLF in the first {V1_MAX} bytes of a v1 header")
        return None
    try:
        line = buf[:end].decode("ascii")
    except UnicodeDecodeError as exc:
        raise ProxyError("v1 header is not ASCII") from exc
    parts = line.split(" ")
    if len(parts) >= 2 and parts[1] == "UNKNOWN":  # PP §2.1: ignore the rest of the line
        return ProxyHeader(1, end + 2, family="UNKNOWN")
    if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
        raise ProxyError(f"broken v1 header: {line[:V1_MAX]!r}")
    fam = parts[1]
    want = ipaddress.IPv4Address if fam == "TCP4" else ipaddress.IPv6Address
    try:
        src, dst = want(parts[2]), want(parts[3])
    except ValueError as exc:
        raise ProxyError(f"v1 {fam} header with a bad address: {line!r}") from exc
    ports = []
    for text in parts[4:6]:
        # PP §2.1: decimal, no leading zeros, 0-65535
        if not text.isdigit() or (len(text) > 1 and text[0] == "0") or int(text) > 65535:
            raise ProxyError(f"v1 header with a bad port {text!r}")
        ports.append(int(text))
    return ProxyHeader(1, end + 2, "PROXY", fam, str(src), ports[0], str(dst), ports[1])


def _parse_v2(buf: bytes) -> ProxyHeader | None:
    if len(buf) < 16:
        return None
    ver_cmd, fam_proto, length = buf[12], buf[13], struct.unpack_from(">H", buf, 14)[0]
    if ver_cmd >> 4 != 2:
        raise ProxyError(f"unknown PROXY protocol version {ver_cmd >> 4}")
    command = {0: "LOCAL", 1: "PROXY"}.get(ver_cmd & 0xF)
    if command is None:
        raise ProxyError(f"unknown v2 command {ver_cmd & 0xF}")
    total = 16 + length
    if total > V2_MAX:
        raise ProxyError(f"v2 header of {total} bytes is larger than {V2_MAX} (nginx: header is too large)")
    fam_name, addr_len = _FAMILIES.get(fam_proto >> 4, ("?", -1))
    transport = _TRANSPORTS.get(fam_proto & 0xF)
    if addr_len < 0 or transport is None:
        raise ProxyError(f"unknown v2 address family/protocol byte 0x{fam_proto:02x}")
    if command == "PROXY" and length < addr_len:
        raise ProxyError(f"v2 {fam_name} header length {length} is shorter than its {addr_len}-byte address block")
    if len(buf) < total:
        return None
    body = bytes(buf[16:total])
    if command == "LOCAL":  # PP §2.2: skip the block, ignore the addresses
        return ProxyHeader(2, total, "LOCAL", "UNSPEC", tlvs=_tlvs(buf, total, min(addr_len, length)))
    tlvs = _tlvs(buf, total, addr_len)
    family = {"INET": "TCP4", "INET6": "TCP6"}.get(fam_name, fam_name)
    if transport == "DGRAM" and fam_name in ("INET", "INET6"):
        family = "UDP" + family[-1]
    if fam_name == "INET":
        src, dst = str(ipaddress.IPv4Address(body[0:4])), str(ipaddress.IPv4Address(body[4:8]))
        sport, dport = struct.unpack_from(">HH", body, 8)
    elif fam_name == "INET6":
        src, dst = str(ipaddress.IPv6Address(body[0:16])), str(ipaddress.IPv6Address(body[16:32]))
        sport, dport = struct.unpack_from(">HH", body, 32)
    elif fam_name == "UNIX":
        src = body[0:108].split(b"\0", 1)[0].decode("utf-8", "backslashreplace")
        dst = body[108:216].split(b"\0", 1)[0].decode("utf-8", "backslashreplace")
        return ProxyHeader(2, total, "PROXY", "UNIX", None, None, dst or None, None, tlvs)
    else:  # AF_UNSPEC: no addresses (PP §2.2)
        return ProxyHeader(2, total, "PROXY", "UNSPEC", tlvs=tlvs)
    return ProxyHeader(2, total, "PROXY", family, src, sport, dst, dport, tlvs)


def _tlvs(buf: bytes, total: int, start: int) -> tuple[tuple[int, bytes], ...]:
    out: list[tuple[int, bytes]] = []
    p = 16 + start
    while p < total:
        if p + 3 > total:
            raise ProxyError("truncated TLV header in v2 header")
        kind, n = buf[p], (buf[p + 1] << 8) | buf[p + 2]
        if p + 3 + n > total:
            raise ProxyError(f"TLV 0x{kind:02x} of {n} bytes runs past the v2 header")
        out.append((kind, bytes(buf[p + 3:p + 3 + n])))
        p += 3 + n
    for kind, value in out:
        if kind == TLV_CRC32C:  # PP §2.2.3: verify when present
            if len(value) != 4:
                raise ProxyError("CRC32C TLV is not 4 bytes")
            zeroed = bytearray(buf[:total])
            at = bytes(buf[:total]).find(bytes([TLV_CRC32C, 0, 4]) + value, 16 + start)
            zeroed[at + 3:at + 7] = b"\0\0\0\0"
            if crc32c(bytes(zeroed)) != int.from_bytes(value, "big"):
                raise ProxyError("v2 header CRC32C does not match")
    return tuple(out)


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1  # Castagnoli, reflected (RFC 3720 B.4)
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) as PP §2.2.3 uses it."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFFFFFF
