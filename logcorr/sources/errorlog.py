"""nginx error log → ``handshake_failures``, ``proxy_headers`` and ``rejects``.

Line grammar: ``reference/nginx-logs.md`` §1 (``ngx_log_error_core()``, unchanged from
1.10.0 to master)::

    YYYY/MM/DD HH:MM:SS [LEVEL] PID#TID: *N MESSAGE[ (ERRNO: TEXT)][ while ACTION][CONTEXT]

Rows (evidence only: what the line says, judged at report time):

* ``handshake_failures``: the lines :func:`logcorr.reasons.failure_kind` calls failures
  (``reasons.FAILURE_MESSAGES``: ``SSL_do_handshake() failed``, nginx's own handshake-time
  texts ``while SSL handshaking``, every line ``while reading PROXY protocol``, ``client sent
  plain HTTP request to HTTPS port``), classified by :mod:`logcorr.reasons`.  ``client_side``
  is false when nginx was the TLS client (``while SSL handshaking to upstream``, or no
  action at all: a Lua cosocket).  Other lines that say ``while SSL handshaking``
  (``SSL_shutdown() failed``, session-cache alerts, ECH notices, ``reasons.NOT_FAILURES``)
  are skipped.
* ``proxy_headers``: the debug lines ``PROXY protocol [v2 ]src: A P, dst: B Q`` (1.17.6+)
  and ``PROXY protocol [v2 ]address: A P`` (1.10–1.17.5), §4.3.
* ``rejects``: lines that start with an error-log timestamp but do not parse, lines longer
  than nginx writes, and garbage that is not the continuation of an entry.

Every other well-formed line is ``skipped`` (the stream ``client A:P connected to L:P``
info lines too: they produce no row, but are remembered, see below).

Decisions where the references are silent:

* Times are nginx's local wall clock (no offset, §1.1).  ``ts_wall`` keeps the digits as
  logged (labelled UTC); ``ts`` reads them in ``options.error_tz`` (``None``: this machine's
  zone) and ``tz_source`` says which (``options.tz_source``: ``given`` | ``machine``), so that
  the report can re-derive ``ts`` from the access logs' offset.  A wall time that a DST
  change makes ambiguous is read with ``fold=0`` (the first occurrence); a time in a DST gap
  gets the offset from before the gap (``zoneinfo``'s rule for ``fold=0``).
* ``client_is_real`` is null (the line alone cannot tell a load balancer from a client: the
  report decides, from ``--lb-cidr`` and the access logs), except for the stream realip
  hook: stream writes ``*N client A:P connected to L:P`` *before* the PROXY header is read
  and realip runs (§4.2), so when the failure line of the same ``*N`` shows another
  ``client:``, realip named the client: ``client_is_real`` true, ``attribution``
  ``stream_realip``, ``lb_addr`` = A, and A goes into ``meta["lb_candidates"]``.
  ``meta["stream"]`` counts the ``connected to`` lines and the failures so attributed.
* Multi-line entries.  ``broken header: "…"`` (nginx < 1.23.2, §1.5) is joined until its
  ``" while reading PROXY protocol`` tail, the next timestamped line, 2048 bytes or the end
  of the file; the row's ``line`` is the first.  Other entries whose first line has no
  context yet (``, client: …``; Lua's ``stack traceback:``, FastCGI's ``PHP message:``
  lines, debug dumps) continue on the following lines without a timestamp, up to
  ``MAX_ENTRY`` bytes and until a line brings the context; such a line is text (no control
  bytes but TAB and CR).  Continuation lines are counted like their entry (parsed or
  skipped), never rejected.  Lines written through syslog (``<PRI>Mon DD HH:MM:SS host
  tag: `` or an RFC 3339 stamp, ``src/core/ngx_syslog.c``) are read after their prefix.
* Big chunks go through :mod:`logcorr.sources.errortier` (vectorised; see there); the
  per-line path below reads the lines it leaves, with the same rules.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from logcorr import reasons, schema
from logcorr.sources import Batch, Options, arrays, printable

KIND = "nginx_error"

LEVELS = ("emerg", "alert", "crit", "error", "warn", "notice", "info", "debug")  # ngx_log.c
_LEVEL_NAMES = {lv.encode(): lv for lv in LEVELS}
_LEVEL_SET = frozenset(_LEVEL_NAMES)
MAX_LINE = 2048  # NGX_MAX_ERROR_STR, including the final LF (§1.5): one entry, all its lines
MAX_ENTRY = 2 * MAX_LINE  # continuation lines are taken up to this (syslog prefixes, slack)
MAX_PHYSICAL = 4 * MAX_LINE  # a longer physical line is not something nginx wrote: rejected
_INT64_MAX = 2**63 - 1
PARSED, SKIPPED, REJECTED = 0, 1, 2
_TIME_ERRORS = (ValueError, OverflowError, OSError)  # month 13, year 0, beyond the C library

_HEAD = re.compile(rb"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[([a-z]+)\] \d+#\d+: (?:\*(\d+) )?")
_STAMP = re.compile(rb"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ")
_SYSLOG = re.compile(rb"(?:<\d{1,3}>)?(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+) \S+ [^\s:]+: ")
_SERVER_END = re.compile(rb', (?:request|subrequest|upstream|host|referrer): "|, bytes from/to ')
_CONTEXT = re.compile(rb", (?:udp )?client: ")
_PROXY = re.compile(rb"PROXY protocol (v2 )?(?:src: (\S+) (\d{1,5}), dst: (\S+) (\d{1,5})|address: (\S+) (\d{1,5}))")
_STREAM = re.compile(rb"(?:udp )?client (\S+) connected to (\S+)\Z")
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # not in a continuation line
_CLOSES = (b", client: ", b", udp client: ", b", context: ")  # an entry's context: it is complete
_BROKEN = b'broken header: "'
_BROKEN_TAIL = b'" while reading PROXY protocol'
_REOPEN = b"reopening logs"  # USR1 (logrotate): master and workers, [notice]
_STREAM_MEMORY = 200_000  # stream connections remembered for the realip hook
_FAILURE_COLUMNS = ("ts", "ts_wall", "client_addr", "client_is_real", "reason", "reason_text",
                    "conn_id", "server_addr", "line", "level", "alert", "alert_name",
                    "client_side", "action", "lb_addr", "attribution")
_HEADER_COLUMNS = ("ts", "ts_wall", "conn_id", "version", "src_addr", "src_port", "dst_addr",
                   "dst_port", "line")
_REJECT_COLUMNS = ("file", "line", "kind", "error", "text")


class _Message(NamedTuple):
    """What the message part of a failure line (before the context) says."""

    action: str | None
    client_side: bool
    reason: reasons.Classified
    reason_text: str


def _text(raw: bytes) -> str:
    return printable(raw, MAX_LINE * 2)


@lru_cache(maxsize=8192)
def failure_message(part: bytes) -> _Message | None:
    """Parse ``MESSAGE[ (ERRNO: TEXT)][ while ACTION]``; None when it is not a failure."""
    wi = part.rfind(b" while ")
    action: str | None = None
    message = part
    if wi >= 0:
        # An action has no comma (one here means the line was cut inside the context, §1.5)
        # and no parenthesis (" while reading)" is inside an SSL text, not an action).
        act = part[wi + 7:].split(b",")[0]
        if b"(" not in act and b")" not in act:
            action, message = act.decode("utf-8", "backslashreplace"), part[:wi]
    text = _text(message)
    side = reasons.failure_kind(text, action)
    if side is None:
        return None
    ssl = reasons.ssl_part(text)
    if ssl is not None:
        cls, reason_text = reasons.classify_ssl(ssl), ssl
    else:
        cls, reason_text = reasons.classify_nginx(text), text
    return _Message(action, side, cls, reason_text)


INVALID_METHOD = b"client sent invalid method"
# A TLS record header in ``request: "..."`` (raw bytes, as nginx 1.22.1 writes them; or
# escaped as \xHH by tools that copy logs): content type 20-24, then version major 3
# (RFC 8446 §5.1).  testssl.sh opens with a bare alert record (0x15), which
# an http ``ssl`` listener reads as plain HTTP (the messy lab, nginx 1.22.1).
_TLS_RECORD_REQUEST = re.compile(rb', request: "(?:[\x14-\x18]\x03|\\x1[4-8]\\x03)')


def tls_bytes_read_as_http(part: bytes, ctx: bytes) -> _Message | None:
    """``client sent invalid method`` whose request is a TLS record: TLS-port noise (``not_tls``).

    handshake-reasons.md §3: the line means non-TLS bytes on an ``ssl`` port only where the
    configuration says the port is TLS; a request that *is* a TLS record header shows it
    from the line alone (a TLS client that nginx read as HTTP).  Other invalid methods stay
    skipped: on a plain port they are ordinary HTTP garbage.
    """
    if not part.startswith(INVALID_METHOD) or _TLS_RECORD_REQUEST.search(ctx) is None:
        return None
    text = _text(INVALID_METHOD)
    return _Message("reading client request line", True, reasons.classify_nginx(text), text)


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
    """(message part, context) of the text after ``*N ``: the context starts at the first
    ``, client: `` or ``, udp client: ``."""
    if body.startswith(_BROKEN):  # raw bytes may hold anything: anchor on the fixed tail
        ti = body.rfind(_BROKEN_TAIL)
        if ti < 0:
            return body, b""
        cut = ti + len(_BROKEN_TAIL)
        return body[:cut], body[cut:]
    m = _CONTEXT.search(body)
    return (body, b"") if m is None else (body[:m.start()], body[m.start():])


def _match_head(line: bytes) -> tuple[re.Match[bytes] | None, bytes]:
    """The head of ``line``, after a syslog prefix if there is one (then the rest is returned)."""
    m = _HEAD.match(line)
    if m is None and line[:1] in b"<ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789":
        s = _SYSLOG.match(line)
        if s is not None:
            rest = line[s.end():]
            m2 = _HEAD.match(rest)
            if m2 is not None:
                return m2, rest
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


class Clock:
    """Wall-clock ``YYYY/MM/DD HH:MM:SS`` → (UTC epoch µs in one zone, the digits as UTC µs)."""

    def __init__(self, tz: Any) -> None:
        self.tz = tz
        self.cache: dict[bytes, tuple[int, int]] = {}

    def times(self, stamp: bytes) -> tuple[int, int]:
        v = self.cache.get(stamp)
        if v is None:
            fields = (int(stamp[0:4]), int(stamp[5:7]), int(stamp[8:10]), int(stamp[11:13]),
                      int(stamp[14:16]), int(stamp[17:19]))
            dt = datetime(*fields, tzinfo=self.tz)  # fold=0; ValueError for month 13 &c.
            v = (int(dt.timestamp()) * 1_000_000, calendar.timegm(dt.timetuple()) * 1_000_000)
            if len(self.cache) > 100_000:
                self.cache.clear()
            self.cache[stamp] = v
        return v

    def offset_s(self, wall_s: int) -> int:
        """Seconds to subtract from the wall clock ``wall_s`` (digits read as UTC) for UTC."""
        dt = datetime.fromtimestamp(wall_s, UTC).replace(tzinfo=self.tz)
        return wall_s - int(dt.timestamp())


class _Pending:
    """A ``broken header`` entry whose raw bytes continue on the next physical lines."""

    def __init__(self, line_no: int, stamp: bytes, level: str, conn: int | None, body: bytes) -> None:
        self.line_no, self.stamp, self.level, self.conn = line_no, stamp, level, conn
        self.parts = [body]
        self.size = len(body)

    def complete(self) -> bool:
        return _BROKEN_TAIL in self.parts[-1]


class _Entry:
    """The last timestamped entry, for the continuation lines that may follow it."""

    __slots__ = ("open", "parsed", "size")

    def __init__(self, raw: bytes, parsed: bool) -> None:
        self.parsed = parsed
        self.size = len(raw)
        self.open = not any(c in raw for c in _CLOSES)


class ErrorLogReader:
    """Reader of one nginx error log (http and stream), fed whole lines."""

    stateless_feed = False  # the stream hook and multi-line entries carry over between chunks

    def __init__(self, file: str, options: Options) -> None:
        self.file = file
        self.clock = Clock(options.error_tz)
        self.tz_source = options.tz_source or "machine"  # given (--error-tz) | machine
        self.stream: dict[int, str] = {}  # *N -> peer address of "client A:P connected to"
        self.pending: _Pending | None = None
        self.entry: _Entry | None = None
        self.last: tuple[bytes, bool] | None = None  # the last entry's line, and whether it was parsed
        self.levels: dict[str, int] = {}
        self.reopen = 0  # "reopening logs" notices (not evidence of the error_log level)
        self._reset()

    def _reset(self) -> None:
        self.failures: list[tuple[Any, ...]] = []  # in _FAILURE_COLUMNS order
        self.fast: list[pa.Table] = []  # failure rows built by the vector tier
        self.headers: list[tuple[Any, ...]] = []  # in _HEADER_COLUMNS order
        self.rejects: list[tuple[str, int, str, str, str]] = []
        self.lb_candidates: set[str] = set()
        self.stream_seen = 0
        self.stream_realip = 0

    def feed(self, data: bytes, first_line: int) -> Batch:
        """Read ``data`` (whole lines; the file's last chunk may lack the final LF)."""
        from logcorr.sources import errortier

        levels: dict[str, int] = {}
        if errortier.worth_it(data):
            n, parsed, skipped = errortier.feed(self, data, first_line, levels)
        else:
            lines = data.split(b"\n")
            if data.endswith(b"\n") or not data:
                lines.pop()
            n, parsed, skipped = len(lines), 0, 0
            for i, raw in enumerate(lines):
                outcome = self.line(raw, first_line + i, levels)
                parsed += outcome == PARSED
                skipped += outcome == SKIPPED
        for k, v in levels.items():
            self.levels[k] = self.levels.get(k, 0) + v
        batch = self._batch(n, parsed, skipped)
        batch.meta["levels"] = levels
        return batch

    def close(self) -> Batch:
        """Flush a pending multi-line entry; warn when no line was at info or debug level.

        ``reopening logs`` notices do not count: a file that logrotate just rotated holds
        only those, whatever the level (issue 10 item 10).
        """
        if self.pending is not None:
            self._finish_pending()
        batch = self._batch(0, 0, 0)
        if (sum(self.levels.values()) > self.reopen
                and not (self.levels.get("info") or self.levels.get("debug"))):
            batch.warnings.append(
                "no info-level lines: nginx is hiding handshake failures at this error_log level "
                "(most are logged at info; set 'error_log <file> info')")
        return batch

    def line(self, raw_cr: bytes, line_no: int, levels: dict[str, int]) -> int:
        """Read one physical line (without its LF): PARSED, SKIPPED or REJECTED."""
        raw = raw_cr[:-1] if raw_cr.endswith(b"\r") else raw_cr
        if len(raw) > MAX_PHYSICAL:
            self.end_entry()
            return self._reject(line_no, f"line of {len(raw)} bytes, longer than nginx writes "
                                         f"({MAX_LINE})", raw)
        m = _HEAD.match(raw)
        if m is None:
            m, raw = _match_head(raw)
            if m is None:
                return self._continuation(raw_cr, raw, line_no)
        if self.pending is not None:
            self._finish_pending()
        self.entry = self.last = None
        level = m.group(2)
        if level not in _LEVEL_SET:
            return self._reject(line_no, f"unknown level [{printable(level)}]", raw)
        name = _LEVEL_NAMES[level]
        levels[name] = levels.get(name, 0) + 1
        if not (b"SSL" in raw or b"PROXY" in raw or b"HTTPS port" in raw or INVALID_METHOD in raw
                or b" connected to " in raw or b"broken header" in raw):  # not about TLS
            if raw.endswith(_REOPEN):
                self.reopen += 1
            self.last = (raw, False)
            return SKIPPED
        error = self._entry(raw, m, line_no)
        if (self.pending is not None and self.pending.line_no == line_no
                and raw_cr.endswith(b"\r")):
            self.pending.parts[0] += b"\r"  # the dump's CR, stripped above for parsing
        if error is not None and error != "":
            return self._reject(line_no, error, raw)
        if self.pending is None:
            self.last = (raw, error is None)  # becomes an _Entry if a continuation follows
        return PARSED if error is None else SKIPPED

    def end_entry(self) -> None:
        """A new entry starts: the previous one (and its continuation lines) is complete."""
        if self.pending is not None:
            self._finish_pending()
        self.entry = self.last = None

    def _reject(self, line_no: int, why: str, raw: bytes) -> int:
        self.rejects.append((self.file, line_no, KIND, why, printable(raw)))
        return REJECTED

    def _continuation(self, raw_cr: bytes, raw: bytes, line_no: int) -> int:
        p = self.pending
        if p is not None and not p.complete() and p.size < MAX_LINE:
            p.parts.append(raw_cr)  # raw bytes as logged, CR included
            p.size += len(raw_cr) + 1
            return PARSED
        if self.entry is None and self.last is not None:
            self.entry, self.last = _Entry(*self.last), None
        e = self.entry
        if e is not None and e.open and e.size + len(raw) < MAX_ENTRY and not _CONTROL.search(raw):
            e.size += len(raw) + 1
            e.open = not any(c in raw for c in _CLOSES)
            return PARSED if e.parsed else SKIPPED
        if not raw.strip():
            return SKIPPED
        why = ("starts like an nginx error-log line but does not parse"
               if _STAMP.match(raw) else "not an nginx error-log line")
        return self._reject(line_no, why, raw)

    def _entry(self, raw: bytes, m: re.Match[bytes], line_no: int) -> str | None:
        """Handle one timestamped line: None = parsed, "" = skipped, else the reject reason."""
        level = _LEVEL_NAMES[m.group(2)]
        digits = m.group(3)
        if digits is not None and (len(digits) > 19 or int(digits) > _INT64_MAX):
            return "connection number *N out of range"
        conn = int(digits) if digits is not None else None
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
                self.clock.times(m.group(1))
            except _TIME_ERRORS as exc:
                return f"bad time {m.group(1).decode()!r}: {exc}"
            self.pending = _Pending(line_no, m.group(1), level, conn, body)
            return None
        part, ctx = _split_context(body)
        msg = failure_message(part) or tls_bytes_read_as_http(part, ctx)
        if msg is None:
            return ""
        return self._failure(msg, ctx, m.group(1), level, conn, line_no)

    def _finish_pending(self) -> None:
        p, self.pending = self.pending, None
        assert p is not None
        part, ctx = _split_context(b"\n".join(p.parts))
        msg = failure_message(part) or _Message("reading PROXY protocol", True,
                                                reasons.classify_nginx("broken header"),
                                                _text(part))
        self._failure(msg, ctx, p.stamp, p.level, p.conn, p.line_no)  # time checked at start
        self.entry = None

    def _failure(self, msg: _Message, ctx: bytes, stamp: bytes, level: str, conn: int | None,
                 line_no: int) -> str | None:
        try:
            ts, wall = self.clock.times(stamp)
        except _TIME_ERRORS as exc:
            return f"bad time {stamp.decode()!r}: {exc}"
        client, server = _context(ctx)
        attribution, lb_addr, real = "error_log_client", None, None
        peer = self.stream.pop(conn, None) if conn is not None else None
        if peer is not None and client is not None and peer != client:
            attribution, lb_addr, real = "stream_realip", peer, True  # realip named the client
            self.stream_realip += 1
            self.lb_candidates.add(peer)
        cls = msg.reason
        self.failures.append((ts, wall, client, real, cls.reason, msg.reason_text, conn, server,
                              line_no, level, cls.alert, cls.alert_name, msg.client_side,
                              msg.action, lb_addr, attribution))
        return None

    def _proxy(self, pm: re.Match[bytes], stamp: bytes, conn: int | None, line_no: int) -> str | None:
        try:
            ts, wall = self.clock.times(stamp)
        except _TIME_ERRORS as exc:
            return f"bad time {stamp.decode()!r}: {exc}"
        g = pm.groups()
        src, sport = (g[1], g[2]) if g[1] is not None else (g[5], g[6])
        dst, dport = (g[3], g[4]) if g[1] is not None else (None, None)
        if int(sport) > 65535 or (dport is not None and int(dport) > 65535):
            return "PROXY protocol port out of range"
        self.headers.append((ts, wall, conn, 2 if g[0] else 1, src.decode("utf-8", "backslashreplace"),
                             int(sport), dst.decode("utf-8", "backslashreplace") if dst is not None else None,
                             int(dport) if dport is not None else None, line_no))
        return None

    def _batch(self, lines: int, parsed: int, skipped: int) -> Batch:
        batch = Batch(lines=lines, parsed=parsed, skipped=skipped, rejected=len(self.rejects))
        constants = {"source": KIND, "file": self.file, "tz_source": self.tz_source}
        if self.failures or self.fast:
            parts = list(self.fast)
            if self.failures:
                parts.append(_table("handshake_failures", _FAILURE_COLUMNS, self.failures, {}))
            table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
            if len(parts) > 1:
                table = table.take(pc.sort_indices(table, [("line", "ascending")]))
            n = table.num_rows
            for c, value in {**constants, "ts_precision_s": 1.0}.items():
                table = table.set_column(table.schema.get_field_index(c), c,
                                         arrays.repeat(value, table.schema.field(c).type, n))
            batch.tables["handshake_failures"] = table
        if self.headers:
            batch.tables["proxy_headers"] = _table("proxy_headers", _HEADER_COLUMNS, self.headers,
                                                   constants)
        if self.rejects:
            batch.tables["rejects"] = _table("rejects", _REJECT_COLUMNS, self.rejects, {})
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
    """Arrow table ``name`` from row tuples (in ``columns`` order) and constant columns
    (built without pandas: :mod:`logcorr.sources.arrays`)."""
    sch = schema.TABLES[name]
    cols = {c: arrays.column(values, sch.field(c).type)
            for c, values in zip(columns, zip(*rows, strict=True), strict=True)}
    for c, value in constants.items():
        cols[c] = arrays.repeat(value, sch.field(c).type, len(rows))
    return schema.conform(name, pa.table(cols))
