"""TLS clients for the lab: what a real client does, and what it saw.

Every function opens one TCP connection from a chosen 127.0.0.N source address (Linux
routes all of 127/8 to ``lo``), optionally writes a PROXY protocol v1 header first (the
"load balancer" is this code connecting from 127.0.0.5, ``proxy-protocol.md`` §1), and
returns an :class:`Outcome`: ``ok``, ``alert:<name>`` (an alert the server sent),
``verify_failed`` (we rejected the certificate and sent the alert), ``http:<status>``,
``closed``, ``reset`` or ``timeout``.

Stacks: Python ``ssl`` (system OpenSSL) for modern clients; pyOpenSSL for old protocols
and ``SSL_MODE_SEND_FALLBACK_SCSV``; raw bytes where no stack produces the hello (the
original report's TLS 1.0 hello, ``client-fallback.md`` §6).
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import os
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass

from OpenSSL import SSL

# OpenSSL ssl.h: # define SSL_MODE_SEND_FALLBACK_SCSV 0x00000080U (since 1.0.1j, RFC 7507).
# pyOpenSSL does not export the name.
SSL_MODE_SEND_FALLBACK_SCSV = 0x00000080
SNI = "lab.test"
IO_TIMEOUT = 5.0

# RFC 8446 §6 / RFC 5246 §7.2 alert descriptions the lab can meet.
ALERTS = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 40: "handshake_failure",
          42: "bad_certificate", 47: "illegal_parameter", 48: "unknown_ca", 50: "decode_error",
          70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
          86: "inappropriate_fallback", 109: "missing_extension", 112: "unrecognized_name"}

_ports = itertools.count(40001)


@dataclass
class Outcome:
    """What one connection attempt saw, from the client side."""

    saw: str
    started: float  # epoch seconds when the TCP connection was opened
    ended: float
    protocol: str | None = None
    cipher: str | None = None
    requests: int = 0  # HTTP responses read on this connection
    detail: str = ""


def proxy_v1(real: str, dst: str = "192.0.2.10", dport: int = 443) -> bytes:
    """A PROXY protocol v1 header naming ``real`` (TCP4 or TCP6), ``proxy-protocol.md`` §1."""
    fam = "TCP6" if ipaddress.ip_address(real).version == 6 else "TCP4"
    if fam == "TCP6" and ":" not in dst:
        dst = "2001:db8::443"
    return f"PROXY {fam} {real} {dst} {next(_ports)} {dport}\r\n".encode("ascii")


def connect(target: tuple[str, int], source: str, real: str | None = None,
            timeout: float = IO_TIMEOUT) -> socket.socket:
    """TCP connection from ``source``; with ``real``, a PROXY v1 header naming it is sent first."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.bind((source, 0))
    sock.connect(target)
    if real is not None:
        sock.sendall(proxy_v1(real))
    return sock


def reset(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0), like a network glitch or a killed client."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _alert_from_text(text: str) -> str:
    """``tlsv1 alert inappropriate fallback`` / ``TLSV1_ALERT_INAPPROPRIATE_FALLBACK`` → name."""
    low = text.lower().replace("_", " ")
    if "alert" in low:
        name = low.split("alert", 1)[1].strip().split(":")[0].split("(")[0].strip()
        return "alert:" + name.replace(" ", "_")
    if "certificate verify failed" in low:
        return "verify_failed"
    return "error:" + text


def _http(sock_send: object, requests: int) -> tuple[int, str]:
    """Send ``requests`` keep-alive GETs on a TLS socket; return (responses read, last status)."""
    send = sock_send.sendall  # type: ignore[attr-defined]
    recv = sock_send.recv  # type: ignore[attr-defined]
    done, status, buf = 0, "", b""
    for i in range(requests):
        last = i == requests - 1
        conn = "close" if last else "keep-alive"
        send(f"GET /r{i} HTTP/1.1\r\nHost: {SNI}\r\nUser-Agent: logcorr-lab/1\r\n"
             f"Connection: {conn}\r\n\r\n".encode())
        while b"\r\n\r\n" not in buf:
            chunk = recv(4096)
            if not chunk:
                return done, status
            buf += chunk
        head, _, buf = buf.partition(b"\r\n\r\n")
        status = head.split(b" ", 2)[1].decode()
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        while len(buf) < length:
            chunk = recv(4096)
            if not chunk:
                break
            buf += chunk
        buf = buf[length:]
        done += 1
    return done, status


def tls_session(target: tuple[str, int], source: str, *, real: str | None = None,
                requests: int = 1, min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
                max_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3, ciphers: str | None = None,
                verify: bool = False) -> Outcome:
    """A modern client (Python ``ssl``): handshake, then ``requests`` keep-alive requests.

    ``verify=True`` verifies against the system trust store, which rejects the lab's
    self-signed certificate: the client sends alert 48 ``unknown_ca``
    (``handshake-reasons.md``, test host).
    """
    if verify:
        ctx = ssl.create_default_context()
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version, ctx.maximum_version = min_version, max_version
    if ciphers:
        ctx.set_ciphers(ciphers)
    t0 = time.time()
    try:
        sock = connect(target, source, real)
    except OSError as exc:
        return Outcome(f"error:{exc}", t0, time.time())
    try:
        with ctx.wrap_socket(sock, server_hostname=SNI) as tls:
            proto, cipher = tls.version(), tls.cipher()
            done, status = _http(tls, requests)
            saw = "ok" if done == requests else f"http:{status or 'none'}"
            return Outcome(saw, t0, time.time(), proto, cipher[0] if cipher else None, done)
    except ssl.SSLCertVerificationError as exc:
        return Outcome("verify_failed", t0, time.time(), detail=str(exc))
    except ssl.SSLError as exc:
        return Outcome(_alert_from_text(exc.reason or str(exc)), t0, time.time(), detail=str(exc))
    except TimeoutError:
        return Outcome("timeout", t0, time.time())
    except ConnectionResetError:
        return Outcome("reset", t0, time.time())
    except OSError as exc:
        return Outcome(f"error:{exc}", t0, time.time())


_PYOPENSSL_VERSIONS = {"TLSv1": SSL.TLS1_VERSION, "TLSv1.1": SSL.TLS1_1_VERSION,
                       "TLSv1.2": SSL.TLS1_2_VERSION, "TLSv1.3": SSL.TLS1_3_VERSION}


def openssl_client(target: tuple[str, int], source: str, *, version: str,
                   real: str | None = None, scsv: bool = False, ciphers: str | None = None,
                   requests: int = 1) -> Outcome:
    """A pyOpenSSL client pinned to one ``version``, with TLS_FALLBACK_SCSV when ``scsv``.

    ``requests=0`` is for the stream listener: read the server's reply until it closes.

    ``scsv`` sets ``SSL_MODE_SEND_FALLBACK_SCSV``, as OkHttp/Conscrypt do on a fallback
    retry (``client-fallback.md`` §2.3, §3.1). ``@SECLEVEL=0`` lets OpenSSL 3 offer
    TLS 1.0/1.1 at all.
    """
    ctx = SSL.Context(SSL.TLS_METHOD)
    v = _PYOPENSSL_VERSIONS[version]
    ctx.set_min_proto_version(v)
    ctx.set_max_proto_version(v)
    ctx.set_cipher_list((ciphers or "DEFAULT:@SECLEVEL=0").encode())
    ctx.set_verify(SSL.VERIFY_NONE, lambda *_: True)
    if scsv:
        ctx.set_mode(SSL_MODE_SEND_FALLBACK_SCSV)
    t0 = time.time()
    sock = connect(target, source, real)
    sock.settimeout(None)  # pyOpenSSL wants a blocking socket; SO_RCVTIMEO guards the reads
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", int(IO_TIMEOUT), 0))
    conn = SSL.Connection(ctx, sock)
    conn.set_tlsext_host_name(SNI.encode())
    conn.set_connect_state()
    try:
        conn.do_handshake()
        proto, cipher = conn.get_protocol_version_name(), conn.get_cipher_name()
        if requests:
            done, status = _http(_PyOpenSSLStream(conn), requests)
            saw = "ok" if done == requests else f"http:{status or 'none'}"
        else:  # a stream server's reply: read it to the end, so nginx writes no SSL_write() error
            stream, done = _PyOpenSSLStream(conn), 0
            while stream.recv(4096):
                pass
            saw = "ok"
        return Outcome(saw, t0, time.time(), proto, cipher, done)
    except SSL.WantReadError:
        return Outcome("timeout", t0, time.time())
    except SSL.SysCallError as exc:
        code = exc.args[0] if exc.args else None
        return Outcome("reset" if code == 104 else "closed", t0, time.time(), detail=str(exc))
    except SSL.Error as exc:
        texts = [e[2] for e in exc.args[0]] if exc.args and isinstance(exc.args[0], list) else [str(exc)]
        return Outcome(_alert_from_text(texts[-1]), t0, time.time(), detail="; ".join(texts))
    finally:
        sock.close()


class _PyOpenSSLStream:
    """``sendall``/``recv`` over a pyOpenSSL connection, for :func:`_http`."""

    def __init__(self, conn: SSL.Connection) -> None:
        self.conn = conn

    def sendall(self, data: bytes) -> None:
        self.conn.sendall(data)

    def recv(self, n: int) -> bytes:
        try:
            return self.conn.recv(n)
        except SSL.ZeroReturnError:
            return b""


def _ext(ext_type: int, body: bytes) -> bytes:
    return struct.pack("!HH", ext_type, len(body)) + body


def _vec(body: bytes, width: int) -> bytes:
    return len(body).to_bytes(width, "big") + body


# The original report's fallback hello (``client-fallback.md`` §6): OkHttp 2.2.x
# COMPATIBLE_TLS on Android BoringSSL, SCSV 0x5600 last, no 0x00FF.
REPORT_SUITES = (0xC00A, 0xC009, 0xC013, 0xC014, 0xC007, 0xC011, 0x0033, 0x0039,
                 0x002F, 0x0035, 0x000A, 0x0005, 0x0004, 0x5600)
REPORT_ALPN = (b"h2-16", b"spdy/3.1", b"http/1.1")
REPORT_GROUPS = (0x0017, 0x0018, 0x0019)  # P-256, P-384, P-521


def report_hello(sni: str = SNI, version: int = 0x0301,
                 suites: tuple[int, ...] = REPORT_SUITES) -> bytes:
    """The report's TLS 1.0 ClientHello as one TLS record, built byte by byte (RFC 2246 §7.4.1.2).

    Extensions: server_name (RFC 6066 §3), ALPN (RFC 7301), supported_groups and
    ec_point_formats (RFC 4492 §5.1), empty session_ticket (RFC 5077, OkHttp sets it),
    renegotiation_info (RFC 5746 §3.2; BoringSSL sends it instead of 0x00FF).
    """
    host = sni.encode("ascii")
    exts = b"".join([
        _ext(0x0000, _vec(b"\x00" + _vec(host, 2), 2)),
        _ext(0xFF01, b"\x00"),
        _ext(0x0023, b""),
        _ext(0x0010, _vec(b"".join(_vec(p, 1) for p in REPORT_ALPN), 2)),
        _ext(0x000B, _vec(b"\x00", 1)),
        _ext(0x000A, _vec(b"".join(struct.pack("!H", g) for g in REPORT_GROUPS), 2)),
    ])
    body = (struct.pack("!H", version) + os.urandom(32) + _vec(b"", 1)
            + _vec(b"".join(struct.pack("!H", s) for s in suites), 2)
            + _vec(b"\x00", 1) + _vec(exts, 2))
    handshake = b"\x01" + _vec(body, 3)
    # Record version 0x0301 (TLS 1.0), as BoringSSL writes for the first record.
    return b"\x16" + struct.pack("!H", 0x0301) + _vec(handshake, 2)


def raw_hello(target: tuple[str, int], source: str, hello: bytes, *,
              real: str | None = None) -> Outcome:
    """Send raw ClientHello bytes and read the answer: ``alert:<name>`` or ``server_hello``."""
    t0 = time.time()
    sock = connect(target, source, real)
    try:
        sock.sendall(hello)
        head = _read_exact(sock, 5)
        if len(head) < 5:
            return Outcome("closed", t0, time.time())
        rtype, _, length = struct.unpack("!BHH", head)
        payload = _read_exact(sock, min(length, 16384))
        if rtype == 0x15 and len(payload) >= 2:
            return Outcome("alert:" + ALERTS.get(payload[1], str(payload[1])), t0, time.time())
        if rtype == 0x16 and payload[:1] == b"\x02":
            return Outcome("server_hello", t0, time.time())
        return Outcome(f"record:{rtype}", t0, time.time())
    except TimeoutError:
        return Outcome("timeout", t0, time.time())
    except ConnectionResetError:
        return Outcome("reset", t0, time.time())
    finally:
        sock.close()


def _read_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def modern_hello() -> bytes:
    """A real ClientHello from the system OpenSSL (TLS 1.3 + 1.2), captured through a MemoryBIO."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=SNI)
    with contextlib.suppress(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def glitch(target: tuple[str, int], source: str, *, real: str | None = None) -> Outcome:
    """A modern hello, the server's first flight read, then an RST mid-handshake.

    What a mobile network drop looks like to nginx; OkHttp then retries with a lower
    version and the SCSV (``client-fallback.md`` §2.2, §5).
    """
    t0 = time.time()
    sock = connect(target, source, real)
    try:
        sock.sendall(modern_hello())
        got = sock.recv(4096)
        saw = "reset_by_client" if got else "closed"
    except TimeoutError:
        saw = "timeout"
    reset(sock)
    return Outcome(saw, t0, time.time())


def send_bytes(target: tuple[str, int], source: str, data: bytes, *,
               real: str | None = None) -> Outcome:
    """Send non-TLS bytes (plain HTTP, an SSH banner) and read the answer until close."""
    t0 = time.time()
    sock = connect(target, source, real)
    buf = b""
    try:
        sock.sendall(data)
        while chunk := sock.recv(4096):
            buf += chunk
    except TimeoutError:
        return Outcome("timeout", t0, time.time(), detail=buf[:80].decode("latin-1"))
    except ConnectionResetError:
        return Outcome("reset", t0, time.time())
    finally:
        sock.close()
    if buf.startswith(b"HTTP/"):
        return Outcome("http:" + buf.split(b" ", 2)[1].decode(), t0, time.time())
    if buf[:1] == b"\x15" and len(buf) >= 7:
        return Outcome("alert:" + ALERTS.get(buf[6], str(buf[6])), t0, time.time())
    return Outcome("closed", t0, time.time(), detail=buf[:80].decode("latin-1"))


def idle(target: tuple[str, int], source: str, *, real: str | None = None,
         wait: float = 6.0) -> Outcome:
    """Connect (and send the PROXY header, if any) but never say hello; wait for the close."""
    t0 = time.time()
    sock = connect(target, source, real, timeout=wait)
    try:
        got = sock.recv(4096)
        saw = "closed" if not got else "data"
    except TimeoutError:
        saw = "timeout"
    except ConnectionResetError:
        saw = "reset"
    finally:
        sock.close()
    return Outcome(saw, t0, time.time())


class Background:
    """What both lab players share: steps run in threads (idle connections that wait for
    nginx's timeout), joined before a rotation or the end of the play."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def background(self, *args: object) -> None:
        """``self.step(*args)`` in a thread."""
        t = threading.Thread(target=self.step, args=args)  # type: ignore[attr-defined]
        t.start()
        self.threads.append(t)

    def join(self) -> None:
        for t in self.threads:
            t.join()
        self.threads.clear()
