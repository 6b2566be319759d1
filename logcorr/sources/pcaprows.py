"""Rows of the capture tables, built from finished connections (see :mod:`logcorr.sources.pcap`).

Evidence only (SPEC §4): the TCP peer is stored as seen; whether it is a load balancer is
decided at report time (``--lb-cidr`` is not applied here).  ``client_is_real`` is true when
a PROXY header named the client, false when a PROXY header that names no one (``LOCAL``,
``UNKNOWN``) shows the peer is a proxy, null otherwise.

A connection that closes before the client sent a byte (a TCP health check, a port scan,
a speculative preconnect) is a ``handshake_failures`` row with ``reason`` ``peer_closed``
and ``action`` :data:`NO_BYTES_ACTION`; one opened with a PROXY v2
``LOCAL`` header gets ``action`` :data:`PROXY_LOCAL_ACTION`.  So health
checks are counted exactly when a capture exists (:mod:`logcorr.classify`), and they are
never client failures.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from logcorr import schema
from logcorr.fingerprint import fingerprints
from logcorr.sources import tls

if TYPE_CHECKING:
    from logcorr.sources.pcap import Conn


def ip_text(raw: bytes) -> str:
    """Text form of a 4- or 16-byte address."""
    return socket.inet_ntop(socket.AF_INET6 if len(raw) == 16 else socket.AF_INET, raw)


# Server alerts whose meaning is certain (SPEC §5): 86 is RFC 7507's answer to
# TLS_FALLBACK_SCSV, 70 the answer to a version outside the server's range (RFC 5246 §7.2.2).
# A server's handshake_failure (40) may mean no shared cipher, group or signature
# algorithm: the capture cannot tell which, so it stays ``other`` with the alert name.
_SERVER_ALERT_REASONS = {86: "inappropriate_fallback", 70: "unsupported_protocol"}
# reference/handshake-reasons.md §4.2: the client rejected our certificate.
_CERT_ALERTS = frozenset({42, 43, 44, 45, 46, 48, 113})


NO_BYTES_ACTION = "connect_close"
"""``action`` of a failure row for a connection that closed with no byte sent."""
PROXY_LOCAL_ACTION = "proxy_local"
"""``action`` of a failure row on a connection opened with a PROXY v2 ``LOCAL`` header."""


def _us(ts: float) -> int:
    return round(float(ts) * 1_000_000)


class RowBuilder:
    """Turns finished connections into rows of the four tables."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.hellos: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []
        self.sessions: list[dict[str, Any]] = []
        self.headers: list[dict[str, Any]] = []
        self.last_flags: dict[str, int] = {}

    def add(self, conn: Conn, capture_end: float, timeout_s: float) -> bool:
        """Add the rows of ``conn``; True when it produced any."""
        flags: dict[str, int] = {}
        self.last_flags = flags
        if conn.cut:
            flags["cut"] = 1
        c = conn.client
        if c is None:
            if conn.halves[0].delivered or conn.halves[1].delivered:
                flags["mid_stream"] = 1
            return False
        (cip, cport), (sip, sport) = conn.endpoint(c), conn.endpoint(1 - c)
        client_tcp, server = ip_text(cip), ip_text(sip)
        server_addr = f"[{server}]:{sport}" if conn.v6 else f"{server}:{sport}"
        used = False
        proxy = conn.proxy
        if proxy is not None:
            used = True
            self.headers.append({"ts": _us(conn.proxy_ts), "source": "pcap", "version": proxy.version,
                                 "src_addr": proxy.src_addr, "src_port": proxy.src_port,
                                 "dst_addr": proxy.dst_addr, "dst_port": proxy.dst_port,
                                 "file": self.file, "line": conn.proxy_pkt})
        if conn.outcome == "bad_proxy":
            flags["bad_proxy"] = 1
            return used
        local = proxy is not None and proxy.command == "LOCAL"
        if not conn.halves[c].delivered - (proxy.length if proxy else 0) > 0:
            server_closed = conn.first_fin == 1 - c or conn.rst_from == 1 - c
            client_closed = conn.first_fin == c or conn.rst_from == c
            if not server_closed and not client_closed:
                flags["empty"] = 1  # still open, silent, when the capture ended
                return used
            if not server_closed:
                # The client left without a byte of TLS: a health check or probe, recorded
                # so that report time can count it (nginx-logs.md §3: "client closed
                # connection while SSL handshaking" when nginx logs it at all).
                flags["empty"] = 1
                how = "RST" if conn.rst_from == c else "FIN"
                # A PROXY header that names a client makes it that client's probe (a
                # scanner's connect-then-close through the load balancer), else the peer's.
                named = proxy is not None and proxy.names_client
                self.failures.append({
                    "ts": _us(conn.end_ts if conn.finished else conn.last_ts), "source": "pcap",
                    "client_addr": proxy.src_addr if named and proxy is not None else client_tcp,
                    "client_is_real": True if named else (False if proxy is not None else None),
                    "reason": "peer_closed",
                    "reason_text": f"connection closed ({how}) before the client sent a byte of TLS"
                                   + (" (PROXY v2 LOCAL)" if local else ""),
                    "conn_id": None, "server_addr": server_addr, "file": self.file,
                    # no client payload: the PROXY header's packet, else the closing one
                    "line": conn.proxy_pkt if proxy is not None else conn.end_pkt, "client_side": True,
                    "action": PROXY_LOCAL_ACTION if local else NO_BYTES_ACTION,
                    "lb_addr": client_tcp if proxy is not None else None,
                    "attribution": "pcap_proxy_header" if named else "pcap_tcp_peer", "ts_precision_s": 1e-6,
                })
                return True
            # The server gave up on a client that sent no hello: nginx's "client timed out
            # ... while SSL handshaking" (client_header_timeout), nginx-logs.md §3.
            conn.non_tls = ("timeout", "no ClientHello before the server closed the connection")
        real: bool | None
        if proxy is not None and proxy.names_client:
            client, real, attribution = proxy.src_addr, True, "pcap_proxy_header"
            lb = client_tcp if client_tcp != proxy.src_addr else None
        else:
            # A PROXY header that names no one (LOCAL, UNKNOWN) still says the peer is a proxy;
            # without a header the capture cannot tell (report time decides, SPEC §4).
            client, attribution = client_tcp, "pcap_tcp_peer"
            real = False if proxy is not None else None
            lb = client_tcp if proxy is not None else None
        hello, sh = conn.hello, conn.server_hello
        start_ts = conn.hello_ts if hello is not None else conn.first_ts
        start_pkt = conn.hello_pkt if hello is not None else conn.first_pkt
        outcome = conn.outcome or "incomplete"
        if hello is not None:
            ja3_text, ja3, ja4 = fingerprints(hello)
            self.hellos.append({
                "ts": _us(conn.hello_ts), "client_addr": client, "lb_addr": lb,
                "hello_version": tls.version_name(hello.legacy_version), "versions": hello.versions,
                "cipher_suites": list(hello.cipher_suites), "has_fallback_scsv": hello.has_fallback_scsv,
                "sni": hello.sni, "ja3": ja3, "ja4": ja4,
                "outcome": outcome, "file": self.file, "line": conn.hello_pkt, "client_port": cport,
                "server_addr": server, "server_port": sport,
                "record_version": tls.version_name(hello.record_version), "alpn": list(hello.alpn),
                "groups": list(hello.groups), "sig_algs": list(hello.sig_algs),
                "ec_point_formats": list(hello.ec_point_formats), "extensions": list(hello.extensions),
                "ja3_string": ja3_text,
                "proxy_version": proxy.version if proxy else None,
                "server_version": tls.version_name(sh.version) if sh else None,
                "server_cipher": sh.cipher_suite if sh else None,
                "alert": conn.alert, "alert_from": conn.alert_from,
            })
        if outcome == "ok":
            self.sessions.append({
                "ts": _us(start_ts), "source": "pcap", "client_addr": client,
                "ssl_protocol": tls.version_name(sh.version) if sh else None,
                "ssl_cipher": cipher_name(sh.cipher_suite) if sh else None,
                "file": self.file, "line": start_pkt, "remote_addr": client_tcp,
                "proxy_protocol_addr": proxy.src_addr if proxy else None,
                "server_name": hello.sni if hello else None, "is_connection": True,
                "ts_logged": _us(conn.end_ts),
            })
            return True
        end_ts = conn.end_ts if conn.finished else conn.last_ts
        if outcome in ("incomplete", "closed") and not conn.finished:
            idle = float(capture_end) - float(conn.last_ts)
            if outcome == "incomplete" and idle < timeout_s:
                flags["incomplete"] = 1
                return True
        reason, text = _reason(conn, outcome, float(capture_end) - float(conn.last_ts))
        self.failures.append({
            "ts": _us(end_ts), "source": "pcap", "client_addr": client, "client_is_real": real,
            "reason": reason, "reason_text": text, "conn_id": None, "server_addr": server_addr,
            "file": self.file, "line": start_pkt, "alert": conn.alert,
            "alert_name": tls.alert_name(conn.alert) if conn.alert is not None else None,
            "client_side": True, "action": PROXY_LOCAL_ACTION if local else "SSL handshaking",
            "lb_addr": lb,
            "attribution": attribution, "ts_precision_s": 1e-6,
        })
        return True

    def tables(self) -> dict[str, Any]:
        """The four tables. Rows of one table need not have the same keys (a connect-then-close
        failure has no ``alert``): a column is built when any row has it, null where a row has not,
        so neither the rows' order nor their shapes can lose a value or fail the read."""
        import pyarrow as pa

        out = {}
        for name, rows in (("client_hellos", self.hellos), ("handshake_failures", self.failures),
                           ("tls_sessions", self.sessions), ("proxy_headers", self.headers)):
            if not rows:
                out[name] = schema.empty(name)
                continue
            keys = set().union(*rows)
            cols = {}
            for field in schema.TABLES[name]:
                if field.name in keys:
                    values = [r.get(field.name) for r in rows]
                    if pa.types.is_timestamp(field.type):
                        cols[field.name] = pa.array(values, pa.int64()).cast(field.type)
                    else:
                        cols[field.name] = pa.array(values, field.type)
            out[name] = schema.conform(name, pa.table(cols))
        return out


def _reason(conn: Conn, outcome: str, idle_s: float) -> tuple[str, str]:
    """SPEC §5 code and a one-line text for a connection that did not complete."""
    if conn.non_tls is not None:
        return conn.non_tls
    who = conn.alert_from or "client"
    if conn.alert is not None:
        a, name = conn.alert, tls.alert_name(conn.alert)
        if who == "server":
            return _SERVER_ALERT_REASONS.get(a, "other"), f"server alert {a} {name}"
        code = "client_rejected_cert" if a in _CERT_ALERTS else "peer_closed" if a == 0 else "peer_alert"
        return code, f"client alert {a} {name}"
    if outcome == "encrypted_alert":
        if who == "client":
            return "peer_alert", "client sent an encrypted alert (TLS 1.3 hides its number)"
        return "other", "server sent an encrypted alert before the handshake completed"
    if outcome == "reset":
        side = "client" if conn.rst_from == conn.client else "server"
        return "peer_closed", f"connection reset (RST from the {side}) before the handshake completed"
    if outcome == "closed":
        return "peer_closed", "connection closed (FIN) before the handshake completed"
    return "timeout", f"handshake incomplete, no packet for {idle_s:.0f} s before the capture ended"


def cipher_name(code: int) -> str:
    """OpenSSL name of a suite (as nginx's ``$ssl_cipher`` writes it), else ``0xC02F``."""
    from logcorr.profile import SUITES

    global _CIPHER_NAMES
    if _CIPHER_NAMES is None:
        _CIPHER_NAMES = {c: ossl or iana for c, iana, ossl, _ in SUITES}
    return _CIPHER_NAMES.get(code) or f"0x{code:04X}"


_CIPHER_NAMES: dict[int, str] | None = None
