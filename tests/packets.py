"""Build TLS records, PROXY headers, TCP/IP frames and capture files in code.

Shapes come from the RFCs cited at each builder (RFC 8446 §4.1.2 ClientHello, §4.1.3
ServerHello, RFC 5246 §7.2 alerts, RFC 793 TCP, RFC 791/8200 IP), the HAProxy PROXY
protocol specification (``reference/proxy-protocol.md`` §1–§2) and libpcap's
``pcap-savefile(5)`` / the pcapng draft for the files.  Used by the tests and by
``bench/pcap_throughput.py``.
"""

from __future__ import annotations

import io
import ipaddress
import itertools
import struct
from collections.abc import Iterable, Sequence

import dpkt

Packet = tuple[float, bytes]

# --- TLS (RFC 8446 §4, RFC 5246 §7) -------------------------------------------------------


def record(ctype: int, payload: bytes, version: int = 0x0301) -> bytes:
    return struct.pack(">BHH", ctype, version, len(payload)) + payload


def handshake(mtype: int, body: bytes) -> bytes:
    return bytes([mtype]) + len(body).to_bytes(3, "big") + body


def ext(etype: int, data: bytes = b"") -> tuple[int, bytes]:
    return etype, data


def ext_sni(name: str) -> tuple[int, bytes]:  # RFC 6066 §3
    host = name.encode()
    entry = b"\x00" + struct.pack(">H", len(host)) + host
    return 0x0000, struct.pack(">H", len(entry)) + entry


def ext_alpn(protos: Sequence[str | bytes]) -> tuple[int, bytes]:  # RFC 7301 §3.1
    raw = [p.encode() if isinstance(p, str) else p for p in protos]
    body = b"".join(bytes([len(p)]) + p for p in raw)
    return 0x0010, struct.pack(">H", len(body)) + body


def ext_u16s(etype: int, values: Sequence[int], width: int = 2) -> tuple[int, bytes]:
    body = b"".join(struct.pack(">H", v) for v in values)
    return etype, len(body).to_bytes(width, "big") + body


def ext_versions(values: Sequence[int]) -> tuple[int, bytes]:  # RFC 8446 §4.2.1
    return ext_u16s(0x002B, values, width=1)


def ext_point_formats(values: Sequence[int]) -> tuple[int, bytes]:  # RFC 8422 §5.1.2
    return 0x000B, bytes([len(values), *values])


def client_hello_body(version: int, suites: Sequence[int], extensions: Sequence[tuple[int, bytes]] | None,
                      session_id: bytes = b"") -> bytes:
    body = struct.pack(">H", version) + bytes(range(32))
    body += bytes([len(session_id)]) + session_id
    body += struct.pack(">H", 2 * len(suites)) + b"".join(struct.pack(">H", s) for s in suites)
    body += b"\x01\x00"  # compression: null
    if extensions is not None:
        exts = b"".join(struct.pack(">HH", t, len(d)) + d for t, d in extensions)
        body += struct.pack(">H", len(exts)) + exts
    return body


def client_hello(version: int = 0x0303, suites: Sequence[int] = (0xC02F,),
                 extensions: Sequence[tuple[int, bytes]] | None = (), record_version: int = 0x0301) -> bytes:
    """One TLS record holding a ClientHello."""
    return record(22, handshake(1, client_hello_body(version, suites, extensions)), record_version)


def server_hello(version: int = 0x0303, suite: int = 0xC02F, selected: int | None = None,
                 random: bytes | None = None) -> bytes:
    body = struct.pack(">H", version) + (random or bytes(32)) + b"\x00" + struct.pack(">HB", suite, 0)
    if selected is not None:
        exts = struct.pack(">HHH", 0x002B, 2, selected)
        body += struct.pack(">H", len(exts)) + exts
    return record(22, handshake(2, body), 0x0303)


def alert(description: int, level: int = 2, version: int = 0x0303) -> bytes:
    return record(21, bytes([level, description]), version)


def ccs(version: int = 0x0303) -> bytes:
    return record(20, b"\x01", version)


def appdata(n: int, version: int = 0x0303) -> bytes:
    return record(23, bytes(n), version)


# The report's TLS 1.0 fallback hello: reference/client-fallback.md §6 (14 suites, SCSV last,
# ALPN h2-16/spdy/3.1/http/1.1, P-256/P-384/P-521, SNI and session ticket as OkHttp 2.2 sets).
REPORT_SUITES = (0xC00A, 0xC009, 0xC013, 0xC014, 0xC007, 0xC011, 0x0033, 0x0039, 0x002F, 0x0035,
                 0x000A, 0x0005, 0x0004, 0x5600)


def report_fallback_hello(sni: str = "api.example.com") -> bytes:
    return client_hello(0x0301, REPORT_SUITES, [
        ext_sni(sni), ext(0xFF01, b"\x00"), ext_u16s(0x000A, [23, 24, 25]),
        ext_point_formats([0]), ext(0x0023), ext_alpn(["h2-16", "spdy/3.1", "http/1.1"]),
    ])


def tls12_hello(scsv: bool = False, sni: str = "api.example.com") -> bytes:
    suites = [0xC02B, 0xC02F, 0x009E, 0xC00A, 0xC009, 0xC013, 0xC014, 0x002F, 0x0035]
    return client_hello(0x0303, suites + ([0x5600] if scsv else []), [
        ext_sni(sni), ext_u16s(0x000A, [29, 23, 24]), ext_point_formats([0]),
        ext_u16s(0x000D, [0x0403, 0x0804, 0x0401]), ext_alpn(["h2", "http/1.1"])])


def tls13_hello(sni: str = "api.example.com") -> bytes:
    return client_hello(0x0303, [0x1301, 0x1302, 0xC02F], [
        ext_sni(sni), ext_u16s(0x000A, [29, 23]), ext_versions([0x0304, 0x0303]),
        ext_u16s(0x000D, [0x0403, 0x0804]), ext(0x0033, b"\x00\x00")])


# --- PROXY protocol (reference/proxy-protocol.md §1, §2) --------------------------------

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_v1(src: str, dst: str, sport: int, dport: int) -> bytes:
    fam = "TCP6" if ":" in src else "TCP4"
    return f"PROXY {fam} {src} {dst} {sport} {dport}\r\n".encode()


def proxy_v2(src: str | None = None, dst: str | None = None, sport: int = 0, dport: int = 0,
             tlvs: Sequence[tuple[int, bytes]] = (), command: int = 1, fam: int | None = None,
             length: int | None = None, block: bytes | None = None) -> bytes:
    if block is None:
        if src is None or dst is None:
            block, fam = b"", 0x00 if fam is None else fam
        else:
            a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
            block = a.packed + b.packed + struct.pack(">HH", sport, dport)
            fam = (0x11 if a.version == 4 else 0x21) if fam is None else fam
    tail = block + b"".join(bytes([t]) + struct.pack(">H", len(v)) + v for t, v in tlvs)
    n = len(tail) if length is None else length
    return V2_SIG + bytes([0x20 | command, fam or 0]) + struct.pack(">H", n) + tail


# --- TCP/IP frames ------------------------------------------------------------------------

SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10


def ip_packet(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int,
              payload: bytes = b"") -> bytes:
    """An IPv4 or IPv6 packet carrying one TCP segment (checksums zero: nobody checks)."""
    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags,
                      65535, 0, 0) + payload
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if a.version == 4:
        return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0,
                           a.packed, b.packed) + tcp
    return struct.pack(">IHBB16s16s", 0x60000000, len(tcp), 6, 64, a.packed, b.packed) + tcp


def frame(ip: bytes, link: int = 1) -> bytes:
    """Wrap an IP packet for a link type (pcap LINKTYPE_* numbers)."""
    v6 = ip[0] >> 4 == 6
    et = b"\x86\xdd" if v6 else b"\x08\x00"
    if link == 1:  # Ethernet II
        return b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb" + et + ip
    if link == 113:  # Linux cooked v1: type, ARPHRD, addr len, addr[8], protocol
        return struct.pack(">HHH8s", 0, 1, 6, b"\x02" * 8) + et + ip
    if link == 276:  # SLL2: protocol, reserved, ifindex, ARPHRD, type, addr len, addr[8]
        return et + struct.pack(">HIHBB8s", 0, 2, 1, 0, 6, b"\x02" * 8) + ip
    if link == 0:  # BSD loopback: AF in host (here little-endian) order
        return struct.pack("<I", 30 if v6 else 2) + ip
    return ip  # raw IP (12, 101, 228, 229)


class Conversation:
    """A TCP connection between a client and a server, as a list of captured packets."""

    def __init__(self, client: str, server: str, cport: int = 50000, sport: int = 443,
                 t0: float = 1795714168.0, isn: tuple[int, int] = (1000, 5000)) -> None:
        self.ends = {"c": (client, cport), "s": (server, sport)}
        self.seq = {"c": isn[0], "s": isn[1]}
        self.t = t0
        self.packets: list[Packet] = []

    def _emit(self, side: str, flags: int, payload: bytes = b"", seq: int | None = None, dt: float = 0.001) -> None:
        other = "s" if side == "c" else "c"
        (src, sp), (dst, dp) = self.ends[side], self.ends[other]
        self.t += dt
        s = self.seq[side] if seq is None else seq
        self.packets.append((self.t, ip_packet(src, dst, sp, dp, s, self.seq[other], flags, payload)))

    def handshake(self) -> Conversation:
        self._emit("c", SYN)
        self.seq["c"] += 1
        self._emit("s", SYN | ACK)
        self.seq["s"] += 1
        self._emit("c", ACK)
        return self

    def send(self, side: str, data: bytes, split: Sequence[int] = ()) -> Conversation:
        """Send ``data`` from ``c`` or ``s``, cut at the offsets in ``split``."""
        cuts = [0, *split, len(data)]
        for a, b in itertools.pairwise(cuts):
            self._emit(side, PSH | ACK, data[a:b])
            self.seq[side] += b - a
        return self

    def fin(self, side: str) -> Conversation:
        self._emit(side, FIN | ACK)
        self.seq[side] += 1
        return self

    def rst(self, side: str) -> Conversation:
        self._emit(side, RST | ACK)
        return self


# --- capture files ------------------------------------------------------------------------


def pcap_bytes(packets: Iterable[Packet], link: int = 1, nano: bool = False, big_endian: bool = False,
               snaplen: int = 262144, wrap: bool = True) -> bytes:
    """A classic pcap file (pcap-savefile(5)); ``wrap`` frames IP packets for ``link``."""
    e = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = io.BytesIO()
    out.write(struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, link))
    for ts, pkt in packets:
        data = frame(pkt, link) if wrap else pkt
        sec = int(ts)
        frac = round((ts - sec) * (1e9 if nano else 1e6))
        cap = data[:snaplen]
        out.write(struct.pack(e + "IIII", sec, frac, len(cap), len(data)) + cap)
    return out.getvalue()


def pcapng_bytes(packets: Iterable[Packet], link: int = 1) -> bytes:
    """A pcapng file written by dpkt (one interface, microsecond timestamps)."""
    out = io.BytesIO()
    writer = dpkt.pcapng.Writer(out, linktype=link)
    for ts, pkt in packets:
        writer.writepkt(frame(pkt, link), ts=ts)
    return out.getvalue()
