"""nginx error log → ``handshake_failures``, ``proxy_headers`` and ``rejects``.

Line grammar: ``reference/nginx-logs.md`` §1 (``ngx_log_error_core()``, unchanged from
1.10.0 to master)::

    YYYY/MM/DD HH:MM:SS [LEVEL] PID#TID: *N MESSAGE[ (ERRNO: TEXT)][ while ACTION][CONTEXT]

Rows:

* ``handshake_failures``: ``SSL_do_handshake() failed`` lines and nginx's own
  handshake-time texts (every non-debug line ``while SSL handshaking``, ``while SSL
  handshaking to upstream`` with ``client_side`` false, ``while reading PROXY protocol``,
  and ``client sent plain HTTP request to HTTPS port``), classified by
  :mod:`logcorr.reasons`.
* ``proxy_headers``: the debug lines ``PROXY protocol [v2 ]src: A P, dst: B Q`` (1.17.6+)
  and ``PROXY protocol [v2 ]address: A P`` (1.10–1.17.5), §4.3.
* ``rejects``: lines that start with an error-log timestamp but do not parse, and garbage.

Every other well-formed line is ``skipped`` (the stream ``client A:P connected to L:P``
info lines too: they produce no row, but are remembered, see below).

Decisions where the references are silent:

* Times are nginx's local wall clock (no offset, §1.1), read in ``options.error_tz``
  (``None``: this machine's zone).  A wall time that a DST change makes ambiguous is read
  with ``fold=0`` (the first, pre-change occurrence); a time in a DST gap gets the offset
  from before the gap (``zoneinfo``'s rule for ``fold=0``).
* Stream realip hook (SPEC §6, "a stream-module log whose realip already names the
  client"): stream writes ``*N client A:P connected to L:P`` *before* the PROXY header is
  read and realip runs (§4.2), so when the failure line of the same ``*N`` shows another
  ``client:``, realip replaced the address: the row gets ``attribution`` ``stream_realip``,
  ``lb_addr`` = A, and A goes into ``meta["lb_candidates"]``.  ``meta["stream"]`` counts
  the ``connected to`` lines seen and the failures so attributed
  (``{"connections": n, "realip": m}``).
* Multi-line ``broken header: "…"`` entries (nginx < 1.23.2, §1.5) are joined until their
  ``" while reading PROXY protocol`` tail, the next timestamped line, 2048 bytes or the end
  of the file; every physical line of one is counted ``parsed``, the row's ``line`` is the
  first.  Lines written through syslog (``<PRI>Mon DD HH:MM:SS host tag: `` or an RFC 3339
  stamp, ``src/core/ngx_syslog.c``) are read after their prefix.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

import pyarrow as pa

from logcorr import reasons, schema
from logcorr.sources import Batch, Options, printable, rejects_table

KIND = "nginx_error"

LEVELS = ("emerg", "alert", "crit", "error", "warn", "notice", "info", "debug")  # ngx_log.c
_LEVEL_NAMES = {lv.encode(): lv for lv in LEVELS}
_LEVEL_SET = frozenset(_LEVEL_NAMES)
MAX_LINE = 2048  # NGX_MAX_ERROR_STR, including the final LF (§1.5)
_INT64_MAX = 2**63 - 1

_HEAD = re.compile(rb"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[([a-z]+)\] \d+#\d+: (?:\*(\d+) )?")
_STAMP = re.compile(rb"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ")
_SYSLOG = re.compile(rb"(?:<\d{1,3}>)?(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+) \S+ [^\s:]+: ")
_SERVER_END = re.compile(rb', (?:request|subrequest|upstream|host|referrer): "|, bytes from/to ')
_PROXY = re.compile(rb"PROXY protocol (v2 )?(?:src: (\S+) (\d+), dst: (\S+) (\d+)|address: (\S+) (\d+))")
_STREAM = re.compile(rb"(?:udp )?client (\S+) connected to (\S+)\Z")
_BROKEN = b'broken header: "'
_BROKEN_TAIL = b'" while reading PROXY protocol'
_STREAM_MEMORY = 200_000  # stream connections remembered for the realip hook
_FAILURE_COLUMNS = ("ts", "client_addr", "client_is_real", "reason", "reason_text", "conn_id",
                    "server_addr", "line", "level", "alert", "alert_name", "client_side",
                    "action", "lb_addr", "attribution")
_HEADER_COLUMNS = ("ts", "conn_id", "version", "src_addr", "src_port", "dst_addr", "dst_port",
                   "line")


class _Message(NamedTuple):
    """What the message part of a failure line (before the context) says."""

    action: str | None
    client_side: bool
    reason: reasons.Classified
    reason_text: str


def _text(raw: bytes) -> str:
    return printable(raw, MAX_LINE * 2)


@lru_cache(maxsize=8192)
def _failure_message(part: bytes) -> _Message | None:
    """Parse ``MESSAGE[ (ERRNO: TEXT)][ while ACTION]``; None when it is not a failure."""
    wi = part.rfind(b" while ")
    # An action has no comma; one here means the line was cut inside the context (§1.5).
    action = part[wi + 7:].split(b",")[0].decode("utf-8", "backslashreplace") if wi >= 0 else None
    message = part[:wi] if wi >= 0 else part
    by_action = action is not None and (action.startswith("SSL handshaking")
                                        or action == "reading PROXY protocol")
    if not (by_action or message.startswith((b"SSL_do_handshake() failed",
                                              b"client sent plain HTTP request to HTTPS port"))):
        return None
    text = _text(message)
    ssl = reasons.ssl_part(text)
    if ssl is not None:
        cls, reason_text = reasons.classify_ssl(ssl), ssl
    else:
        cls, reason_text = reasons.classify_nginx(text), text
    client_side = not (action or "").endswith("to upstream")  # §1.4: nginx is the client
    return _Message(action, client_side, cls, reason_text)


@lru_cache(maxsize=65536)  # a log repeats the same few clients and listen addresses
def _context(ctx: bytes) -> tuple[str | None, str | None]:
    """``client`` and ``server`` of ``, [udp ]client: X, server: Y[, request: ...]`` (§1.3)."""
    if ctx.startswith(b", client: "):
        rest = ctx[10:]
    elif ctx.startswith(b", udp client: "):
        rest = ctx[14:]
    else:
        return None, None
    si = rest.find(b", server: ")
    if si < 0:  # cut at 2048 bytes before "server:"
        return rest.decode("utf-8", "backslashreplace") or None, None
    client = rest[:si].decode("utf-8", "backslashreplace")
    server = rest[si + 10:]
    if b'"' in server or b"bytes from/to" in server:
        m = _SERVER_END.search(server)
        if m:
            server = server[: m.start()]
    return client or None, server.decode("utf-8", "backslashreplace") or None


def _split_context(body: bytes) -> tuple[bytes, bytes]:
    """(message part, context) of the text after ``*N ``."""
    if body.startswith(_BROKEN):  # raw bytes may hold anything: anchor on the fixed tail
        ti = body.rfind(_BROKEN_TAIL)
        if ti < 0:
            return body, b""
        cut = ti + len(_BROKEN_TAIL)
        return body[:cut], body[cut:]
    ci = body.find(b", client: ")
    if ci < 0:
        ci = body.find(b", udp client: ")
    return (body, b"") if ci < 0 else (body[:ci], body[ci:])


def _match_head(line: bytes) -> tuple[re.Match[bytes] | None, bytes]:
    m = _HEAD.match(line)
    if m is None and line[:1] in b"<ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789":
        s = _SYSLOG.match(line)
        if s is not None:
            line = line[s.end():]
            m = _HEAD.match(line)
    return m, line


def sniff(head: list[bytes]) -> bool:
    """True if these first lines look like an nginx error log (a few bad lines tolerated)."""
    good = bad = 0
    in_broken = False
    for raw in head:
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue
        m, line = _match_head(line)
        if m is not None and m.group(2).decode() in LEVELS:
            good += 1
            in_broken = line[m.end():].startswith(_BROKEN) and _BROKEN_TAIL not in line
        elif in_broken:  # continuation of a multi-line broken header
            in_broken = _BROKEN_TAIL not in line
        else:
            bad += 1
    return good >= 1 and good >= bad


class _Clock:
    """Wall-clock ``YYYY/MM/DD HH:MM:SS`` in one zone → UTC epoch microseconds, cached."""

    def __init__(self, tz: Any) -> None:
        self.tz = tz
        self.cache: dict[bytes, int] = {}

    def epoch_us(self, stamp: bytes) -> int:
        v = self.cache.get(stamp)
        if v is None:
            dt = datetime(int(stamp[0:4]), int(stamp[5:7]), int(stamp[8:10]), int(stamp[11:13]),
                          int(stamp[14:16]), int(stamp[17:19]), tzinfo=self.tz)  # fold=0
            v = int(dt.timestamp()) * 1_000_000
            if len(self.cache) > 100_000:
                self.cache.clear()
            self.cache[stamp] = v
        return v


class _Pending:
    """A ``broken header`` entry whose raw bytes continue on the next physical lines."""

    def __init__(self, line_no: int, stamp: bytes, level: str, conn: int | None, body: bytes) -> None:
        self.line_no, self.stamp, self.level, self.conn = line_no, stamp, level, conn
        self.parts = [body]
        self.size = len(body)

    def complete(self) -> bool:
        return _BROKEN_TAIL in self.parts[-1]


class ErrorLogReader:
    """Reader of one nginx error log (http and stream), fed whole lines."""

    def __init__(self, file: str, options: Options) -> None:
        self.file = file
        self.clock = _Clock(options.error_tz)
        self.networks = list(options.lb_networks)
        self.lb_cache: dict[str, bool] = {}
        self.stream: dict[int, str] = {}  # *N -> peer address of "client A:P connected to"
        self.pending: _Pending | None = None
        self.levels: dict[str, int] = {}
        self._reset()

    def _reset(self) -> None:
        self.failures: list[tuple[Any, ...]] = []  # in _FAILURE_COLUMNS order
        self.headers: list[tuple[Any, ...]] = []  # in _HEADER_COLUMNS order
        self.rejects: list[tuple[str, int, str, str, str]] = []
        self.lb_candidates: set[str] = set()
        self.stream_seen = 0
        self.stream_realip = 0

    def feed(self, data: bytes, first_line: int) -> Batch:
        """Read ``data`` (whole lines; the file's last chunk may lack the final LF)."""
        lines = data.split(b"\n")
        if data.endswith(b"\n") or not data:
            lines.pop()
        levels: dict[bytes, int] = {}
        parsed = skipped = 0
        match_head = _HEAD.match
        for i, raw in enumerate(lines):
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            m = match_head(raw)
            if m is None:
                m, raw = _match_head(raw)
            if m is None:
                p = self.pending
                if p is not None and not p.complete() and p.size < MAX_LINE:
                    p.parts.append(lines[i])  # raw bytes as logged, CR included
                    p.size += len(lines[i]) + 1
                    parsed += 1
                elif not raw.strip():
                    skipped += 1
                else:
                    why = ("starts like an nginx error-log line but does not parse"
                           if _STAMP.match(raw) else "not an nginx error-log line")
                    self.rejects.append((self.file, first_line + i, KIND, why, printable(raw)))
                continue
            if self.pending is not None:
                self._finish_pending()
            level = m.group(2)
            if level not in _LEVEL_SET:
                self.rejects.append((self.file, first_line + i, KIND,
                                     f"unknown level [{printable(level)}]", printable(raw)))
                continue
            levels[level] = levels.get(level, 0) + 1
            if not (b"SSL" in raw or b"PROXY" in raw or b"HTTPS port" in raw
                    or b" connected to " in raw or b"broken header" in raw):
                skipped += 1
                continue
            error = self._line(raw, m, first_line + i)
            if (self.pending is not None and self.pending.line_no == first_line + i
                    and lines[i].endswith(b"\r")):
                self.pending.parts[0] += b"\r"  # the dump's CR, stripped above for parsing
            if error is None:
                parsed += 1
            elif error == "":
                skipped += 1
            else:
                self.rejects.append((self.file, first_line + i, KIND, error, printable(raw)))
        for k, v in levels.items():
            name = k.decode()
            self.levels[name] = self.levels.get(name, 0) + v
        batch = self._batch(len(lines), parsed, skipped)
        batch.meta["levels"] = {k.decode(): v for k, v in levels.items()}
        return batch

    def close(self) -> Batch:
        """Flush a pending multi-line entry; warn when no line was at info or debug level."""
        if self.pending is not None:
            self._finish_pending()
        batch = self._batch(0, 0, 0)
        if sum(self.levels.values()) and not (self.levels.get("info") or self.levels.get("debug")):
            batch.warnings.append(
                "no info-level lines: nginx is hiding handshake failures at this error_log level "
                "(most are logged at info; set 'error_log <file> info')")
        return batch

    def _line(self, raw: bytes, m: re.Match[bytes], line_no: int) -> str | None:
        """Handle one candidate line: None = parsed, "" = skipped, else the reject reason."""
        level = _LEVEL_NAMES[m.group(2)]
        conn = int(m.group(3)) if m.group(3) is not None else None
        if conn is not None and conn > _INT64_MAX:
            return "connection number *N out of range"
        body = raw[m.end():]
        if level == "debug":
            pm = _PROXY.match(body)
            if pm is None:
                return ""
            return self._proxy(pm, m.group(1), conn, line_no)
        sm = _STREAM.match(body) if b" connected to " in body else None
        if sm is not None:
            if conn is not None:
                if len(self.stream) >= _STREAM_MEMORY:
                    for key in list(self.stream)[: _STREAM_MEMORY // 2]:
                        del self.stream[key]
                self.stream[conn] = _host(sm.group(1).decode("utf-8", "backslashreplace"))
            self.stream_seen += 1
            return ""
        if body.startswith(_BROKEN) and _BROKEN_TAIL not in body:
            try:
                self.clock.epoch_us(m.group(1))
            except ValueError as exc:
                return f"bad time {m.group(1).decode()!r}: {exc}"
            self.pending = _Pending(line_no, m.group(1), level, conn, body)
            return None
        part, ctx = _split_context(body)
        msg = _failure_message(part)
        if msg is None:
            return ""
        return self._failure(msg, ctx, m.group(1), level, conn, line_no)

    def _finish_pending(self) -> None:
        p, self.pending = self.pending, None
        assert p is not None
        part, ctx = _split_context(b"\n".join(p.parts))
        msg = _failure_message(part) or _Message("reading PROXY protocol", True,
                                                  reasons.classify_nginx("broken header"),
                                                  _text(part))
        self._failure(msg, ctx, p.stamp, p.level, p.conn, p.line_no)  # time checked at start

    def _failure(self, msg: _Message, ctx: bytes, stamp: bytes, level: str, conn: int | None,
                 line_no: int) -> str | None:
        try:
            ts = self.clock.epoch_us(stamp)
        except ValueError as exc:
            return f"bad time {stamp.decode()!r}: {exc}"
        client, server = _context(ctx)
        attribution, lb_addr, real = "error_log_client", None, True
        peer = self.stream.pop(conn, None) if conn is not None else None
        if peer is not None and client is not None and peer != client:
            attribution, lb_addr = "stream_realip", peer  # realip replaced the LB's address
            self.stream_realip += 1
            self.lb_candidates.add(peer)
        elif client is not None and self._is_lb(client):
            attribution, lb_addr, real = "lb", client, False
        cls = msg.reason
        self.failures.append((ts, client, real, cls.reason, msg.reason_text, conn, server, line_no,
                              level, cls.alert, cls.alert_name, msg.client_side, msg.action,
                              lb_addr, attribution))
        return None

    def _proxy(self, pm: re.Match[bytes], stamp: bytes, conn: int | None, line_no: int) -> str | None:
        try:
            ts = self.clock.epoch_us(stamp)
        except ValueError as exc:
            return f"bad time {stamp.decode()!r}: {exc}"
        g = pm.groups()
        src, sport = (g[1], g[2]) if g[1] is not None else (g[5], g[6])
        dst, dport = (g[3], g[4]) if g[1] is not None else (None, None)
        if int(sport) > 65535 or (dport is not None and int(dport) > 65535):
            return "PROXY protocol port out of range"
        self.headers.append((ts, conn, 2 if g[0] else 1, src.decode("utf-8", "backslashreplace"), int(sport),
                             dst.decode("utf-8", "backslashreplace") if dst is not None else None,
                             int(dport) if dport is not None else None, line_no))
        return None

    def _is_lb(self, addr: str) -> bool:
        if not self.networks:
            return False
        hit = self.lb_cache.get(addr)
        if hit is None:
            try:
                ip = ipaddress.ip_address(addr)
                hit = any(ip in net for net in self.networks)
            except ValueError:
                hit = False
            self.lb_cache[addr] = hit
        return hit

    def _batch(self, lines: int, parsed: int, skipped: int) -> Batch:
        batch = Batch(lines=lines, parsed=parsed, skipped=skipped, rejected=len(self.rejects))
        if self.failures:
            batch.tables["handshake_failures"] = _table(
                "handshake_failures", _FAILURE_COLUMNS, self.failures,
                {"source": KIND, "file": self.file, "ts_precision_s": 1.0})
        if self.headers:
            batch.tables["proxy_headers"] = _table("proxy_headers", _HEADER_COLUMNS, self.headers,
                                                   {"source": KIND, "file": self.file})
        if self.rejects:
            batch.tables["rejects"] = rejects_table(self.rejects)
        if self.lb_candidates:
            batch.meta["lb_candidates"] = set(self.lb_candidates)
        if self.stream_seen or self.stream_realip:
            batch.meta["stream"] = {"connections": self.stream_seen, "realip": self.stream_realip}
        self._reset()
        return batch


def _host(addr_port: str) -> str:
    """``1.2.3.4:5`` / ``[::1]:5`` → the address (the stream ``connected to`` form)."""
    host = addr_port.rpartition(":")[0] or addr_port
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _table(name: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]],
           constants: dict[str, Any]) -> pa.Table:
    """Arrow table ``name`` from row tuples (in ``columns`` order) and constant columns."""
    sch = schema.TABLES[name]
    cols = {c: pa.array(values, type=sch.field(c).type)
            for c, values in zip(columns, zip(*rows, strict=True), strict=True)}
    for c, value in constants.items():
        cols[c] = pa.repeat(pa.scalar(value, type=sch.field(c).type), len(rows))
    return schema.conform(name, pa.table(cols))
