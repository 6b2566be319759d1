"""TLS records and hello messages: bytes in, dataclasses out (no I/O, no packets).

Only the plaintext start of a connection is read: the ClientHello (RFC 5246 §7.4.1.2,
RFC 8446 §4.1.2), the ServerHello (with ``supported_versions`` for TLS 1.3, RFC 8446
§4.2.1), ChangeCipherSpec, alerts (RFC 5246 §7.2, RFC 8446 §6) and the lengths of
application-data records.  :class:`RecordStream` takes one direction's bytes in pieces
(as TCP delivers them) and turns them into :class:`Event` tuples; it never buffers more
than one record plus one handshake message, both bounded.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

# Record content types, RFC 8446 §5.1 / RFC 5246 §6.2.1.
CCS, ALERT, HANDSHAKE, APPDATA, HEARTBEAT = 20, 21, 22, 23, 24
# TLSCiphertext may be 2^14 + 2048 bytes (RFC 5246 §6.2.3); anything longer is not TLS.
MAX_RECORD = 2**14 + 2048
MAX_HELLO = 2**16
"""Longest hello we reassemble; real ClientHellos are a few KiB (post-quantum ones < 3 KiB)."""

FALLBACK_SCSV = 0x5600  # RFC 7507 §6
RENEGOTIATION_SCSV = 0x00FF  # RFC 5746 §3.3
EXT_SNI, EXT_GROUPS, EXT_POINT_FORMATS, EXT_SIG_ALGS = 0x0000, 0x000A, 0x000B, 0x000D
EXT_ALPN, EXT_SESSION_TICKET, EXT_VERSIONS, EXT_RENEGOTIATION = 0x0010, 0x0023, 0x002B, 0xFF01

# RFC 8446 §4.1.3: a ServerHello with this random is a HelloRetryRequest.
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")

# nginx's $ssl_protocol spelling (OpenSSL SSL_get_version), which tls_sessions use.
VERSION_NAMES = {0x0300: "SSLv3", 0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}

# RFC 8446 §6, RFC 5246 §7.2, RFC 6066, RFC 7301, RFC 7507; reference/handshake-reasons.md §4.1.
ALERT_NAMES = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed",
    22: "record_overflow", 30: "decompression_failure", 40: "handshake_failure",
    41: "no_certificate", 42: "bad_certificate", 43: "unsupported_certificate",
    44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
    47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
    51: "decrypt_error", 60: "export_restriction", 70: "protocol_version",
    71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback",
    90: "user_canceled", 100: "no_renegotiation", 109: "missing_extension",
    110: "unsupported_extension", 111: "certificate_unobtainable", 112: "unrecognized_name",
    113: "bad_certificate_status_response", 114: "bad_certificate_hash_value",
    115: "unknown_psk_identity", 116: "certificate_required", 120: "no_application_protocol",
    121: "ech_required",
}


class TlsError(ValueError):
    """Bytes that are not the TLS message they should be."""


def is_grease(value: int) -> bool:
    """RFC 8701 §2: 0x0A0A, 0x1A1A, ... 0xFAFA."""
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


def version_name(version: int) -> str:
    """``TLSv1.2`` spelling; unknown versions as ``0x7F1C``."""
    return VERSION_NAMES.get(version) or f"0x{version:04X}"


def alert_name(description: int) -> str:
    """RFC name of an alert number, ``alert_N`` when unknown."""
    return ALERT_NAMES.get(description, f"alert_{description}")


@dataclass(frozen=True, slots=True)
class ClientHello:
    """A parsed ClientHello; every list is in wire order, GREASE values kept."""

    record_version: int
    legacy_version: int
    cipher_suites: tuple[int, ...]
    extensions: tuple[int, ...]
    sni: str | None = None
    alpn: tuple[str, ...] = ()
    supported_versions: tuple[int, ...] = ()
    groups: tuple[int, ...] = ()
    sig_algs: tuple[int, ...] = ()
    ec_point_formats: tuple[int, ...] = ()
    alpn_raw_first: bytes | None = None  # first ALPN value as bytes (JA4 needs the raw bytes)

    @property
    def has_fallback_scsv(self) -> bool:
        return FALLBACK_SCSV in self.cipher_suites

    @property
    def session_ticket(self) -> bool:
        return EXT_SESSION_TICKET in self.extensions

    @property
    def renegotiation_info(self) -> bool:
        return EXT_RENEGOTIATION in self.extensions or RENEGOTIATION_SCSV in self.cipher_suites

    @property
    def versions(self) -> list[str]:
        """``supported_versions`` as names, GREASE dropped (empty without the extension)."""
        return [version_name(v) for v in self.supported_versions if not is_grease(v)]


@dataclass(frozen=True, slots=True)
class ServerHello:
    legacy_version: int
    cipher_suite: int
    selected_version: int | None  # supported_versions extension (TLS 1.3), RFC 8446 §4.2.1
    is_retry: bool = False  # HelloRetryRequest

    @property
    def version(self) -> int:
        return self.selected_version if self.selected_version is not None else self.legacy_version


class Event(NamedTuple):
    """Something one direction said: ``kind`` is hello, server_hello, ccs, alert, appdata,
    handshake or error; ``offset`` is where its record starts in the TLS stream."""

    kind: str
    offset: int
    value: object = None  # ClientHello | ServerHello | (level, description) | length | message
    length: int = 0


def _vec(data: bytes, pos: int, width: int) -> tuple[bytes, int]:
    """A length-prefixed vector (RFC 8446 §3.4) at ``pos``; returns it and the next position."""
    if pos + width > len(data):
        raise TlsError("truncated vector length")
    n = int.from_bytes(data[pos:pos + width], "big")
    end = pos + width + n
    if end > len(data):
        raise TlsError(f"vector of {n} bytes runs past the message")
    return data[pos + width:end], end


def _u16s(data: bytes) -> tuple[int, ...]:
    if len(data) % 2:
        raise TlsError("odd-length list of 16-bit values")
    return struct.unpack(f">{len(data) // 2}H", data)


def parse_client_hello(body: bytes, record_version: int = 0x0301) -> ClientHello:
    """Parse a ClientHello message body (after the 4-byte handshake header)."""
    if len(body) < 38:
        raise TlsError("ClientHello shorter than version + random")
    legacy = int.from_bytes(body[0:2], "big")
    _, pos = _vec(body, 34, 1)  # session id
    suites_raw, pos = _vec(body, pos, 2)
    _, pos = _vec(body, pos, 1)  # compression methods
    fields: dict[str, object] = {}
    exts: list[int] = []
    if pos < len(body):  # extensions are optional before TLS 1.3 (RFC 5246 §7.4.1.2)
        block, _ = _vec(body, pos, 2)
        p = 0
        while p < len(block):
            if p + 4 > len(block):
                raise TlsError("truncated extension header")
            etype, elen = struct.unpack_from(">HH", block, p)
            data = block[p + 4:p + 4 + elen]
            if len(data) != elen:
                raise TlsError(f"extension 0x{etype:04x} runs past the extensions block")
            exts.append(etype)
            _client_extension(etype, data, fields)
            p += 4 + elen
    return ClientHello(record_version=record_version, legacy_version=legacy,
                       cipher_suites=_u16s(suites_raw), extensions=tuple(exts), **fields)  # type: ignore[arg-type]


def _client_extension(etype: int, data: bytes, out: dict[str, object]) -> None:
    try:
        if etype == EXT_SNI:  # RFC 6066 §3: list of (type, name); type 0 = host_name
            names, _ = _vec(data, 0, 2)
            p = 0
            while p + 3 <= len(names):
                name, nxt = _vec(names, p + 1, 2)
                if names[p] == 0 and "sni" not in out:
                    out["sni"] = name.decode("ascii", "backslashreplace")
                p = nxt
        elif etype == EXT_ALPN:  # RFC 7301 §3.1
            lst, _ = _vec(data, 0, 2)
            protos, p = [], 0
            while p < len(lst):
                proto, p = _vec(lst, p, 1)
                protos.append(proto)
            out["alpn"] = tuple(x.decode("ascii", "backslashreplace") for x in protos)
            out["alpn_raw_first"] = protos[0] if protos else None
        elif etype == EXT_VERSIONS:  # RFC 8446 §4.2.1: 1-byte length, then versions
            out["supported_versions"] = _u16s(_vec(data, 0, 1)[0])
        elif etype == EXT_GROUPS:
            out["groups"] = _u16s(_vec(data, 0, 2)[0])
        elif etype == EXT_SIG_ALGS:
            out["sig_algs"] = _u16s(_vec(data, 0, 2)[0])
        elif etype == EXT_POINT_FORMATS:
            out["ec_point_formats"] = tuple(_vec(data, 0, 1)[0])
    except TlsError:
        pass  # a malformed extension body keeps the extension in the list, without its values


def parse_server_hello(body: bytes) -> ServerHello:
    """Parse a ServerHello (or HelloRetryRequest) message body."""
    if len(body) < 38:
        raise TlsError("ServerHello shorter than version + random")
    legacy = int.from_bytes(body[0:2], "big")
    _, pos = _vec(body, 34, 1)
    if pos + 3 > len(body):
        raise TlsError("ServerHello without cipher suite")
    suite = int.from_bytes(body[pos:pos + 2], "big")
    pos += 3
    selected = None
    if pos < len(body):
        block, _ = _vec(body, pos, 2)
        p = 0
        while p + 4 <= len(block):
            etype, elen = struct.unpack_from(">HH", block, p)
            if etype == EXT_VERSIONS and elen == 2:
                selected = int.from_bytes(block[p + 4:p + 6], "big")
            p += 4 + elen
    return ServerHello(legacy, suite, selected, is_retry=body[2:34] == HRR_RANDOM)


class RecordStream:
    """One direction's TLS records, fed in pieces; yields :class:`Event` tuples.

    ``hello_type`` is 1 for the client direction (ClientHello) and 2 for the server's.
    Handshake messages are reassembled only until the hello is read; after that,
    handshake records are reported by length only (they may be encrypted).
    """

    __slots__ = ("_buf", "_hs", "_hs_start", "error", "hello_type", "offset", "want_hello")

    def __init__(self, hello_type: int) -> None:
        self.hello_type = hello_type
        self._buf = bytearray()
        self._hs = bytearray()
        self._hs_start = 0
        self.offset = 0  # stream offset of _buf[0]
        self.want_hello = True
        self.error: str | None = None

    def feed(self, data: bytes) -> list[Event]:
        if self.error is not None:
            return []
        buf = self._buf
        buf += data
        events: list[Event] = []
        pos = 0
        while len(buf) - pos >= 5:
            ctype, major, length = buf[pos], buf[pos + 1], (buf[pos + 3] << 8) | buf[pos + 4]
            if not CCS <= ctype <= HEARTBEAT or major != 3:
                self.error = f"not a TLS record: {bytes(buf[pos:pos + 5]).hex()}"
                events.append(Event("error", self.offset + pos, self.error))
                break
            if length > MAX_RECORD:
                self.error = f"record of {length} bytes is longer than TLS allows"
                events.append(Event("error", self.offset + pos, self.error))
                break
            if len(buf) - pos < 5 + length:
                break
            start = self.offset + pos
            frag = bytes(buf[pos + 5:pos + 5 + length])
            version = (major << 8) | buf[pos + 2]
            pos += 5 + length
            if ctype == HANDSHAKE and self.want_hello:
                events.extend(self._handshake(frag, start, version))
                if self.error is not None:
                    break
            elif ctype == ALERT:
                # A plaintext alert is 2 bytes; longer ones are encrypted (RFC 5246 §6.2.3).
                value = (frag[0], frag[1]) if length == 2 else None
                events.append(Event("alert", start, value, length))
            elif ctype == CCS:
                events.append(Event("ccs", start, None, length))
            elif ctype == APPDATA:
                events.append(Event("appdata", start, None, length))
            else:
                events.append(Event("handshake", start, None, length))
        del buf[:pos]
        self.offset += pos
        return events

    def _handshake(self, frag: bytes, start: int, version: int) -> list[Event]:
        if not self._hs:
            self._hs_start = start
        self._hs += frag
        hs = self._hs
        events: list[Event] = []
        while self.want_hello and len(hs) >= 4:
            mtype, mlen = hs[0], int.from_bytes(hs[1:4], "big")
            if mtype != self.hello_type:
                self.error = f"first handshake message is type {mtype}, not a hello"
                events.append(Event("error", self._hs_start, self.error))
                return events
            if mlen > MAX_HELLO:
                self.error = f"hello of {mlen} bytes is longer than {MAX_HELLO}"
                events.append(Event("error", self._hs_start, self.error))
                return events
            if len(hs) < 4 + mlen:
                return events
            body = bytes(hs[4:4 + mlen])
            del hs[:4 + mlen]
            try:
                if mtype == 1:
                    events.append(Event("hello", self._hs_start, parse_client_hello(body, version)))
                    self.want_hello = False
                else:
                    sh = parse_server_hello(body)
                    events.append(Event("server_hello", self._hs_start, sh))
                    self.want_hello = sh.is_retry  # after a HelloRetryRequest the real one follows
            except TlsError as exc:
                self.error = str(exc)
                events.append(Event("error", self._hs_start, self.error))
                return events
            self._hs_start = start
        if not self.want_hello:
            hs.clear()
        return events
