"""Packet captures → ``client_hellos``, ``handshake_failures``, ``tls_sessions``, ``proxy_headers``.

File format: ``dpkt`` (1.9.8) reads pcap (both byte orders, micro- and nanosecond
magic) and pcapng.  It is maintained, pure Python, reads both formats and needs no
tshark at run time.  dpkt only splits the file into ``(timestamp, frame)``; the link,
IP and TCP headers are decoded here with ``struct`` on the raw bytes, which is several
times faster than building a dpkt object per packet and lets a malformed packet be
counted instead of raising.  Link types: null/loopback (0, 108), Ethernet (1, with
802.1Q/802.1ad tags), raw IP (12, 101, 228, 229), Linux cooked SLL (113) and SLL2 (276).

Each TCP connection is reassembled in both directions (out-of-order segments,
retransmissions, overlaps), but only its start is read: the PROXY header, the hellos,
ChangeCipherSpec, alerts and the first application-data records, at most
:data:`PARSE_LIMIT` bytes a direction; one TLS record is the most that is ever buffered.
As soon as a connection's outcome is known its rows are built and its buffers dropped.

Which side is the client: the SYN sender; without a SYN (the connection was open when
the capture started), the side whose stream starts with a PROXY header or a ClientHello;
a connection that shows neither is *mid-stream* and produces no rows.

Outcomes (``client_hellos.outcome``): ``ok`` (TLS ≤ 1.2: both ChangeCipherSpec seen, or
application data both ways; TLS 1.3: the client sent an encrypted record after the
ServerHello that is longer than an encrypted alert), the RFC name of the first fatal
plaintext alert, ``encrypted_alert`` (TLS 1.3 client alert-sized record), ``closed`` /
``reset`` (FIN / RST first), ``incomplete`` (the capture ended first).  An ``incomplete``
connection is a failure (reason ``timeout``) only when the capture went on for
:data:`HANDSHAKE_TIMEOUT_S` after its last packet; otherwise it is left out of
``handshake_failures``: a capture that stops mid-handshake is no evidence of failure.
A failure's ``ts`` is when it happened (the alert, FIN or RST), which is when nginx logs
it; a session's ``ts`` is its ClientHello's time (SPEC §4).
"""

from __future__ import annotations

import bisect
import gc
import struct
from collections.abc import Collection, Iterator
from typing import Any, BinaryIO

from logcorr.errors import InputError
from logcorr.sources import Batch, Options, rejects_table, tls
from logcorr.sources import proxyproto as pp
from logcorr.sources.pcaprows import RowBuilder
from logcorr.sources.signatures import PCAPNG_MAGIC

KIND = "pcap"
LINK_TYPES = {0: "null", 1: "ethernet", 12: "raw", 101: "raw", 108: "loop", 113: "sll",
              228: "raw", 229: "raw", 276: "sll2"}
PARSE_LIMIT = 65536  # bytes of each direction read for the handshake
OOO_LIMIT = 65536  # out-of-order bytes held per direction
HANDSHAKE_TIMEOUT_S = 60.0  # nginx ssl_handshake_timeout / client_header_timeout default
_MASK, _HALF = 0xFFFFFFFF, 0x80000000
_SYN, _RST, _FIN, _ACK = 0x02, 0x04, 0x01, 0x10
_START, _PROXY, _AFTER_PROXY, _TLS, _OFF = 0, 1, 2, 3, 4
# Warning alerts that do not end a handshake (RFC 5246 §7.2.2, RFC 6066 §3).
_HARMLESS_WARNINGS = frozenset({41, 90, 100, 112})
_HTTP_METHODS = (b"GET ", b"POST", b"HEAD", b"PUT ", b"DELE", b"OPTI", b"CONN", b"PATC", b"TRAC", b"PRI ")


class _Half:
    """One direction of a connection."""

    __slots__ = ("delivered", "fin", "head", "next", "ooo", "ooo_bytes", "phase", "records",
                 "segs", "tls_base")

    def __init__(self) -> None:
        self.next: int | None = None  # next expected sequence number
        self.delivered = 0  # contiguous bytes delivered so far
        self.ooo: dict[int, tuple[bytes, int, float]] = {}
        self.ooo_bytes = 0
        self.fin = False
        self.phase = _START
        self.head = bytearray()  # bytes not yet classified (PROXY header, first record header)
        self.records: tls.RecordStream | None = None
        self.segs: list[int] = []  # stream offset where each delivered segment starts
        self.tls_base = 0  # stream offset where the TLS records start (after a PROXY header)


class Conn:
    """A TCP connection: reassembly, the handshake state and its outcome."""

    __slots__ = (
        "addrs",
        "alert",
        "alert_from",
        "client",
        "client_app",
        "client_ccs",
        "cut",
        "enc_alert",
        "end_pkt",
        "end_ts",
        "finished",
        "first_fin",
        "first_pkt",
        "first_ts",
        "halves",
        "hello",
        "hello_pkt",
        "hello_ts",
        "last_ts",
        "non_tls",
        "npkts",
        "outcome",
        "proxy",
        "proxy_pkt",
        "proxy_ts",
        "rejected",
        "rst_from",
        "seg_pkts",
        "server_app",
        "server_ccs",
        "server_hello",
        "syn_seq",
        "v6",
    )

    def __init__(self, addrs: tuple[bytes, int, bytes, int], v6: bool) -> None:
        self.addrs = addrs  # (ip, port) of half 0 then half 1; half 0 sent the first packet seen
        self.v6 = v6
        self.halves = (_Half(), _Half())
        self.seg_pkts: tuple[list[tuple[int, float]], list[tuple[int, float]]] = ([], [])
        self.client: int | None = None
        self.syn_seq: int | None = None
        self.npkts = self.rejected = 0
        self.proxy: pp.ProxyHeader | None = None
        self.proxy_pkt, self.proxy_ts = 0, 0.0
        self.hello: tls.ClientHello | None = None
        self.hello_pkt, self.hello_ts = 0, 0.0
        self.first_pkt, self.first_ts = 0, 0.0  # first client payload
        self.server_hello: tls.ServerHello | None = None
        self.client_ccs = self.server_ccs = False
        self.client_app = self.server_app = 0
        self.enc_alert = False
        self.alert: int | None = None
        self.alert_from: str | None = None
        self.non_tls: tuple[str, str] | None = None  # (reason, text) when the client spoke no TLS
        self.outcome: str | None = None
        self.rst_from: int | None = None
        self.first_fin: int | None = None  # the direction that closed first
        self.cut = False  # snaplen cut a segment
        self.finished = False
        self.end_pkt, self.end_ts, self.last_ts = 0, 0.0, 0.0

    def endpoint(self, d: int) -> tuple[bytes, int]:
        """(address, port) of the sender of half ``d``."""
        a = self.addrs
        return (a[0], a[1]) if d == 0 else (a[2], a[3])

    # -- reassembly --------------------------------------------------------------------
    def segment(self, d: int, seq: int, flags: int, payload: bytes, missing: int, n: int, ts: float) -> None:
        h = self.halves[d]
        if flags & _SYN:
            h.next = (seq + 1) & _MASK
            if not flags & _ACK:
                self.client, self.syn_seq = d, seq
            elif self.client is None:
                self.client = 1 - d
            seq = (seq + 1) & _MASK
        if payload:
            if h.next is None:
                h.next = seq  # no SYN seen: the stream starts at the first sequence number seen
            rel = (seq - h.next) & _MASK
            if rel == 0:
                self._deliver(d, payload, n, ts)
            elif rel >= _HALF:  # starts before what we have: retransmission or overlap
                back = _MASK + 1 - rel
                if back < len(payload):
                    self._deliver(d, payload[back:], n, ts)
            elif (rel < OOO_LIMIT and h.ooo_bytes < OOO_LIMIT and h.phase != _OFF
                  and len(payload) > len(h.ooo.get(seq, (b"",))[0])):
                h.ooo_bytes += len(payload)
                h.ooo[seq] = (payload, n, ts)  # remember which packet carried it
            if h.ooo and not self.finished:
                self._drain(d)
            if missing and rel == 0:
                # The capture's snaplen cut this segment: the stream has a hole we cannot read past.
                self.cut = True
                h.next = (h.next + missing) & _MASK if h.next is not None else None
                h.phase = _OFF
        if flags & _RST and self.rst_from is None:
            self.rst_from = d
            self._end("reset", n, ts)
        if flags & _FIN:
            h.fin = True
            if self.first_fin is None:
                self.first_fin = d
            if self.halves[1 - d].fin:
                self._end("closed", n, ts)

    def _drain(self, d: int) -> None:
        h = self.halves[d]
        progressed = True
        while progressed and h.ooo and h.next is not None:
            progressed = False
            for seq in list(h.ooo):
                rel = (seq - h.next) & _MASK
                if rel == 0 or rel >= _HALF:
                    data, n, ts = h.ooo.pop(seq)
                    h.ooo_bytes -= len(data)
                    back = 0 if rel == 0 else _MASK + 1 - rel
                    if back < len(data):
                        self._deliver(d, data[back:], n, ts)
                        progressed = True
                        break

    def _deliver(self, d: int, data: bytes, n: int, ts: float) -> None:
        h = self.halves[d]
        h.next = (h.next + len(data)) & _MASK if h.next is not None else None
        offset = h.delivered
        h.delivered += len(data)
        if h.phase == _OFF or self.finished:
            if h.phase == _OFF and h.delivered > PARSE_LIMIT:  # past what we read: data flowed
                if d == self.client:
                    self.client_app += 1
                else:
                    self.server_app += 1
                self._check_done(n, ts)
            return
        if d == self.client and offset == 0:
            self.first_pkt, self.first_ts = n, ts
        h.segs.append(offset)
        self.seg_pkts[d].append((n, ts))
        if h.phase == _TLS and h.records is not None:
            self._events(d, h.records.feed(data), n, ts)
        else:
            h.head += data
            self._classify(d, n, ts)
        if h.delivered > PARSE_LIMIT and not self.finished:
            h.phase = _OFF

    # -- what the bytes are ----------------------------------------------------------------
    def _classify(self, d: int, n: int, ts: float) -> None:
        h = self.halves[d]
        head = bytes(h.head)
        if h.phase == _START and self.client in (None, d):
            is_proxy = pp.looks_like_proxy(head)
            if is_proxy is None:
                return
            if is_proxy:
                self.client = d
                h.phase = _PROXY
        if h.phase == _PROXY:
            try:
                header = pp.parse_header(head)
            except pp.ProxyError as exc:
                self._bad_proxy(str(exc), n, ts)
                return
            if header is None:
                return
            self.proxy, self.proxy_pkt, self.proxy_ts = header, n, ts
            h.phase, h.tls_base = _AFTER_PROXY, header.length
            head = head[header.length:]
            h.head = bytearray(head)
            if not head:
                return
        if len(head) < 6 and head[:1] in (b"\x15", b"\x16") and head[1:2] in (b"", b"\x03"):
            return  # a record header is coming
        if len(head) < 4 and any(m.startswith(head) for m in _HTTP_METHODS):
            return
        is_record = len(head) >= 6 and 20 <= head[0] <= 23 and head[1] == 3
        if self.client is None and is_record and head[0] == 0x16 and head[5] in (1, 2):
            self.client = d if head[5] == 1 else 1 - d
        if is_record and self.client is not None:
            h.phase = _TLS
            h.records = tls.RecordStream(1 if d == self.client else 2)
            h.head = bytearray()
            self._events(d, h.records.feed(head), n, ts)
            return
        h.phase = _OFF
        if d == self.client:
            self._not_tls(head, n, ts, after_proxy=self.proxy is not None)

    def _not_tls(self, head: bytes, n: int, ts: float, after_proxy: bool) -> None:
        where = " after the PROXY header" if after_proxy else ""
        if head.startswith(_HTTP_METHODS):
            line = head.split(b"\r\n", 1)[0][:200].decode("ascii", "backslashreplace")
            self.non_tls = ("plain_http", f"plain HTTP request{where}: {line}")
        elif len(head) >= 3 and head[0] & 0x80 and head[2] == 1:
            self.non_tls = ("not_tls", f"SSLv2-format ClientHello{where} (RFC 6101 appendix E.2)")
        elif after_proxy and pp.looks_like_proxy(head):
            self.non_tls = ("not_tls", "a second PROXY header after the first (nginx reads one)")
        else:
            self.non_tls = ("not_tls", f"first bytes{where} are not a TLS record: {head[:16].hex(' ')}")
        self._end("not_tls", n, ts)

    def _bad_proxy(self, error: str, n: int, ts: float) -> None:
        self.halves[self.client or 0].phase = _OFF
        self.non_tls = ("bad_proxy", error)
        self.rejected += 1
        self._end("bad_proxy", n, ts)

    # -- TLS events ------------------------------------------------------------------------
    def _events(self, d: int, events: list[tls.Event], n: int, ts: float) -> None:
        is_client = d == self.client
        for ev in events:
            kind = ev.kind
            if kind == "hello" and is_client:
                self.hello = ev.value  # type: ignore[assignment]
                self.hello_pkt, self.hello_ts = self._locate(d, ev.offset, n, ts)
            elif kind == "server_hello" and not is_client:
                self.server_hello = ev.value  # type: ignore[assignment]
            elif kind == "ccs":
                if is_client:
                    self.client_ccs = True
                else:
                    self.server_ccs = True
            elif kind == "alert":
                if ev.value is None:
                    if not (self.client_ccs and self.server_ccs):
                        self.enc_alert, self.alert_from = True, "client" if is_client else "server"
                        self._end("encrypted_alert", n, ts)
                else:
                    level, desc = ev.value if isinstance(ev.value, tuple) else (2, 0)
                    if level == 1 and desc in _HARMLESS_WARNINGS:
                        continue
                    self.alert, self.alert_from = desc, "client" if is_client else "server"
                    self._end(tls.alert_name(desc), n, ts)
            elif kind == "appdata":
                sh = self.server_hello
                if is_client and sh is not None and sh.version == 0x0304 and not self.client_app and ev.length <= 24:
                    # TLS 1.3 hides alerts in application_data records: 2 bytes + type + 16-byte tag.
                    self.enc_alert, self.alert_from = True, "client"
                    self._end("encrypted_alert", n, ts)
                elif is_client:
                    self.client_app += 1
                else:
                    self.server_app += 1
            elif kind == "error":
                if is_client and self.hello is None:
                    self.non_tls = ("not_tls", f"client stream is not TLS: {ev.value}")
                    self._end("not_tls", n, ts)
                self.halves[d].phase = _OFF
            if self.finished:
                return
            self._check_done(n, ts)

    def _check_done(self, n: int, ts: float) -> None:
        if self.finished:
            return
        sh = self.server_hello
        if sh is not None and sh.version == 0x0304:
            if self.client_app:
                self._end("ok", n, ts)
        elif (self.client_ccs and self.server_ccs) or (self.client_app and self.server_app):
            self._end("ok", n, ts)

    def _locate(self, d: int, offset: int, n: int, ts: float) -> tuple[int, float]:
        h = self.halves[d]
        i = bisect.bisect_right(h.segs, offset + h.tls_base) - 1
        return self.seg_pkts[d][i] if i >= 0 else (n, ts)

    def _end(self, outcome: str, n: int, ts: float) -> None:
        if self.finished:
            return
        self.outcome, self.end_pkt, self.end_ts, self.finished = outcome, n, ts, True
        for h in self.halves:  # nothing more is read: drop the buffers
            h.head, h.records, h.ooo, h.ooo_bytes = bytearray(), None, {}, 0


class PcapReader:
    """Reads one capture file into the four tables (reader contract: ``sources/__init__``)."""

    def __init__(self, file: str, options: Options, ports: Collection[int] | None = None) -> None:
        self.file = file
        self.options = options
        chosen = ports if ports is not None else getattr(options, "pcap_ports", None)
        self.ports = frozenset(chosen) if chosen else None
        self.rows = RowBuilder(file)

    def read(self, fobj: BinaryIO) -> Batch:
        """Read the whole capture from a binary file object (gzip already undone)."""
        # The connection table holds no reference cycles; the cyclic collector would only
        # rescan it again and again (a third of the run time on a large capture).
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._read(fobj)
        finally:
            if was_enabled:
                gc.enable()

    def _read(self, fobj: BinaryIO) -> Batch:
        import dpkt  # here, not at the top: every ingest sniffs for captures, few read one (0.05 s)

        head = fobj.read(4)
        stream: Any
        if fobj.seekable():  # files and gzip streams: hand dpkt the real object (fewer Python calls)
            fobj.seek(0)
            stream = fobj
        else:
            stream = _Prefixed(head, fobj)
        try:
            reader: Any = dpkt.pcapng.Reader(stream) if head == PCAPNG_MAGIC else dpkt.pcap.Reader(stream)
        except (ValueError, dpkt.dpkt.Error, struct.error) as exc:
            raise InputError(f"not a readable pcap/pcapng capture ({exc})", file=self.file) from exc
        link = reader.datalink()
        if link not in LINK_TYPES:
            raise InputError(f"capture link type {link} is not supported (Ethernet, Linux cooked "
                             "SLL/SLL2, loopback and raw IP are)", file=self.file)
        batch = Batch()
        stats: dict[str, int] = {"packets": 0, "tcp": 0, "skipped_non_tcp": 0, "ip_fragments": 0,
                                 "rejected": 0}
        rejects: list[tuple[str, int, str, str, str]] = []
        conns: dict[tuple[bytes, int, bytes, int], tuple[Conn, int]] = {}
        retired: list[Conn] = []
        n = 0
        last_ts = 0.0
        try:
            for n, (ts, frame, why) in enumerate(_decode(reader, link, self.ports), start=1):
                if why is not None:
                    if why == "skip" or why == "frag":
                        stats["ip_fragments" if why == "frag" else "skipped_non_tcp"] += 1
                    else:
                        stats["rejected"] += 1
                        rejects.append((self.file, n, KIND, why, bytes(frame[:96]).hex(" ")))
                    continue
                src, sport, dst, dport, seq, flags, payload, missing, v6 = frame
                last_ts = ts
                key = (src, sport, dst, dport)
                entry = conns.get(key)
                if entry is None:
                    conn = Conn(key, v6)
                    conns[key], conns[(dst, dport, src, sport)] = (conn, 0), (conn, 1)
                    d = 0
                else:
                    conn, d = entry
                    if flags & _SYN and not flags & _ACK and (conn.finished or conn.halves[0].fin or conn.halves[1].fin or conn.rst_from is not None) and seq != conn.syn_seq:
                        retired.append(conn)  # port reused by a new connection
                        conn = Conn(key, v6)
                        conns[key], conns[(dst, dport, src, sport)] = (conn, 0), (conn, 1)
                        d = 0
                conn.npkts += 1
                conn.last_ts = ts
                if not conn.finished or flags & _SYN:
                    conn.segment(d, seq, flags, payload, missing, n, ts)
        except (dpkt.dpkt.Error, ValueError, struct.error, EOFError) as exc:
            batch.warnings.append(f"{self.file}: capture ends inside packet {n + 1} ({type(exc).__name__}); "
                                  f"the {n} packets before it were read")
        seen: set[int] = set()
        for conn, _ in conns.values():
            if id(conn) not in seen:
                seen.add(id(conn))
                retired.append(conn)
        parsed = skipped = 0
        for conn in retired:
            if not conn.finished:
                conn.outcome = "closed" if conn.halves[0].fin or conn.halves[1].fin else "incomplete"
            used = self.rows.add(conn, last_ts, HANDSHAKE_TIMEOUT_S)
            for kind in ("mid_stream", "bad_proxy", "empty", "cut"):
                stats[kind] = stats.get(kind, 0) + (self.rows.last_flags.get(kind, 0))
            if conn.rejected:
                rejects.append((self.file, conn.end_pkt, KIND, f"bad PROXY header: {conn.non_tls[1] if conn.non_tls else ''}", ""))
            good = conn.npkts - conn.rejected
            if used:
                parsed += good
            else:
                skipped += good
            stats["rejected"] += conn.rejected
        stats["packets"] = n
        stats["tcp"] = parsed + skipped
        batch.tables = self.rows.tables()
        batch.tables["rejects"] = rejects_table(rejects)
        batch.lines = n
        batch.parsed = parsed
        batch.skipped = skipped + stats["skipped_non_tcp"] + stats["ip_fragments"]
        batch.rejected = stats["rejected"]
        batch.meta["pcap"] = stats
        if stats.get("bad_proxy"):
            batch.warnings.append(f"{self.file}: {stats['bad_proxy']} connections started with a malformed PROXY header")
        if stats.get("cut"):
            batch.warnings.append(f"{self.file}: {stats['cut']} connections were cut by the capture's snaplen; "
                                  "capture with -s 0 to read their hellos")
        return batch


class _Prefixed:
    """A file object whose first bytes were already read (for streams that cannot seek)."""

    def __init__(self, prefix: bytes, fobj: BinaryIO) -> None:
        self._prefix, self._f = prefix, fobj
        self.name = getattr(fobj, "name", "<capture>")

    def read(self, n: int = -1) -> bytes:
        if self._prefix:
            if n < 0:
                out, self._prefix = self._prefix + self._f.read(), b""
                return out
            out, self._prefix = self._prefix[:n], self._prefix[n:]
            if len(out) < n:
                out += self._f.read(n - len(out))
            return out
        return self._f.read(n)


_TCP = struct.Struct("!HHIIBB")
Decoded = tuple[float, Any, str | None]


def _decode(reader: Any, link: int, ports: frozenset[int] | None) -> Iterator[Decoded]:
    """Yield ``(ts, fields, None)`` per TCP packet, or ``(ts, raw, why)`` for the others.

    ``why`` is ``skip`` (not TCP, or another port), ``frag`` (an IP fragment: not
    reassembled), or the error that makes the packet undecodable.
    """
    unpack_tcp = _TCP.unpack_from
    for ts, buf in reader:
        try:
            if link == 1:
                et, off = (buf[12] << 8) | buf[13], 14
                while et in (0x8100, 0x88A8):  # 802.1Q / 802.1ad tags
                    et, off = (buf[off + 2] << 8) | buf[off + 3], off + 4
                if et != 0x0800 and et != 0x86DD:
                    yield ts, buf, "skip"
                    continue
            elif link == 113:
                off = 16
            elif link == 276:
                off = 20
            elif link == 0 or link == 108:
                off = 4
            else:
                off = 0
            b0 = buf[off]
            if b0 >> 4 == 4:
                ihl = (b0 & 15) * 4
                if buf[off + 9] != 6:
                    yield ts, buf, "skip"
                    continue
                if (buf[off + 6] & 0x3F) or buf[off + 7]:
                    yield ts, buf, "frag"
                    continue
                total = (buf[off + 2] << 8) | buf[off + 3]
                src, dst = buf[off + 12:off + 16], buf[off + 16:off + 20]
                t = off + ihl
                end = off + total if total else len(buf)  # 0: TSO, length unknown
                v6 = False
            elif b0 >> 4 == 6:
                nh = buf[off + 6]
                plen = (buf[off + 4] << 8) | buf[off + 5]
                src, dst = buf[off + 8:off + 24], buf[off + 24:off + 40]
                t = off + 40
                end = t + plen if plen else len(buf)
                while nh in (0, 43, 60):  # hop-by-hop, routing, destination options
                    nh, t = buf[t], t + (buf[t + 1] + 1) * 8
                if nh == 44:
                    yield ts, buf, "frag"
                    continue
                if nh != 6:
                    yield ts, buf, "skip"
                    continue
                v6 = True
            else:
                yield ts, buf, f"not IPv4 or IPv6 (version {b0 >> 4})"
                continue
            if t + 20 > len(buf):
                yield ts, buf, "TCP header cut short (snaplen or truncated packet)"
                continue
            sport, dport, seq, _ack, offx, flags = unpack_tcp(buf, t)
            if ports is not None and sport not in ports and dport not in ports:
                yield ts, buf, "skip"
                continue
            doff = (offx >> 4) * 4
            if doff < 20:
                yield ts, buf, f"TCP data offset {doff} is shorter than the header"
                continue
            start = t + doff
            payload = buf[start:end] if start < end else b""
            missing = max(0, end - start - len(payload)) if start < end else 0
            yield ts, (src, sport, dst, dport, seq, flags, payload, missing, v6), None
        except IndexError:
            yield ts, buf, "packet too short for its link/IP headers"
