"""AWS load-balancer logs → ``tls_sessions``, ``handshake_failures`` and ``rejects``.

Four kinds (``reference/aws-load-balancers.md`` §1–§5), told apart by content (§5):

* ``alb_access``: ALB access log, one request per line.  A TLS request is a session
  (``is_connection`` null: a line is a request, not a connection).  No line is a failed
  handshake: AWS documents none (§1.4), so a 400 with ``ssl_protocol`` ``-`` is a bad
  request, not a handshake failure, and is skipped.
* ``alb_connection``: ALB connection log, one connection attempt per line.
  ``tls_verify_status`` ``Success`` is a session, ``Failed:<code>`` a failed handshake.
* ``nlb_tls``: NLB TLS-listener access log, one connection per line.  A completed
  handshake is a session; an uncompleted one is a failure, its reason from the client's
  ``incoming_tls_alert`` when there is one.
* ``clb_access``: Classic ELB access log.  A TLS line is a session (a connection for
  TCP/SSL listeners, whose request is ``"- - - "``); ``ssl_*`` ``-`` lines are skipped
  (whether a failed negotiation is logged at all is unverified, §4).

Field counts: lines shorter than the oldest documented layout are rejected; trailing
fields beyond the newest documented one are accepted and ignored, because AWS appends new
fields and tells readers to ignore them (ALB-AL, ALB-CL, NLB-AL) — except Classic ELB,
whose 15-field layout is frozen, so a 16th field is an error.  Each field that matters is
checked for its shape, which catches a field split by an unquoted space.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pyarrow as pa

from logcorr import schema
from logcorr.reasons import ALERTS
from logcorr.sources import Batch, Options, printable, rejects_table
from logcorr.sources.logformat import MAX_OFFSET_H

# the times a log can hold (schema.TS_MIN_US..TS_MAX_US): outside, the line is a reject
TS_MIN = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=schema.TS_MIN_US)
TS_MAX = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=schema.TS_MAX_US)

KIND_ALB_ACCESS = "alb_access"
KIND_ALB_CONNECTION = "alb_connection"
KIND_NLB_TLS = "nlb_tls"
KIND_CLB_ACCESS = "clb_access"
KINDS = (KIND_ALB_ACCESS, KIND_ALB_CONNECTION, KIND_NLB_TLS, KIND_CLB_ACCESS)

# (fewest fields, most documented fields); None = no trailing fields allowed.
# ALB access: 29 in the AWS sample (§1.3), 30 with conn_trace_id, 33 with the rewrite fields.
# ALB connection: 12 (older page, Athena) to 15 (elb, ip_address).  NLB: 21 (2023) or 22.
FIELD_COUNTS: dict[str, tuple[int, int, bool]] = {
    KIND_ALB_ACCESS: (29, 33, True),
    KIND_ALB_CONNECTION: (12, 15, True),
    KIND_NLB_TLS: (21, 22, True),
    KIND_CLB_ACCESS: (15, 15, False),
}

ALB_TYPES = frozenset({"http", "https", "h2", "grpcs", "ws", "wss"})  # §1.2 field 1

# TLS alert numbers map to (RFC name, SPEC §5 code) through logcorr.reasons.ALERTS
# (reference/handshake-reasons.md §4.1–4.2), the one alert table.

# ALB connection-log ``Failed:<code>`` (ALB-CL §2.2).  ClientCert* are mutual-TLS
# verdicts on the *client's* certificate, which no SPEC §5 code names; and
# UnmappedConnectionError is any non-mTLS negotiation failure (REPOST), cause unlogged.
# So every code maps to ``other``; ``reason_text`` keeps the code.
VERIFY_FAILURES: dict[str, str] = dict.fromkeys((
    "ClientCertMaxChainDepthExceeded", "ClientCertMaxSizeExceeded", "ClientCertCrlHit",
    "ClientCertCrlProcessingError", "ClientCertUntrusted", "ClientCertNotYetValid",
    "ClientCertExpired", "ClientCertTypeUnsupported", "ClientCertInvalid",
    "ClientCertPurposeInvalid", "ClientCertRejected", "UnmappedConnectionError",
    "ClientCertIncompatible"), "other")

# NLB ``tls_protocol_version`` (§3.2) → the OpenSSL/nginx spelling.
PROTOCOLS = {"tlsv10": "TLSv1", "tlsv11": "TLSv1.1", "tlsv12": "TLSv1.2", "tlsv13": "TLSv1.3",
             "tlsv1": "TLSv1", "sslv3": "SSLv3"}

_TOKEN = re.compile(r'(?:"(?:[^"\\]|\\.)*"|[^\s"])+')
_ISO = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)?$")
_PORT = re.compile(r"^\d{1,5}$")
_CONTROL = re.compile(rb"^Enable AccessLog for ELB: ")  # OTEL test data (§1.1): not a log entry


def tokenize(line: str) -> list[str]:
    """Split a log line on spaces, a double-quoted run staying one field (quotes removed)."""
    out = []
    for tok in _TOKEN.findall(line):
        if len(tok) >= 2 and tok[0] == '"' and tok[-1] == '"' and '"' not in tok[1:-1].replace('\\"', ""):
            tok = tok[1:-1].replace('\\"', '"')
        out.append(tok)
    return out


def parse_iso(text: str) -> datetime | None:
    """ISO 8601 as AWS logs write it (§7.5): fraction and zone optional, no zone = UTC."""
    m = _ISO.match(text)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, zone = m.groups()
    try:
        ts = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s),
                      int((frac or "0")[:6].ljust(6, "0")), tzinfo=UTC)
        if zone and zone != "Z":
            oh, om = int(zone[1:3]), int(zone[-2:])
            if oh > MAX_OFFSET_H or om > 59:
                return None
            sign = 1 if zone[0] == "+" else -1
            ts -= sign * timedelta(hours=oh, minutes=om)
    except (ValueError, OverflowError):
        return None
    return ts if TS_MIN <= ts < TS_MAX else None


def split_host_port(text: str) -> tuple[str, int] | None:
    """``1.2.3.4:443`` or ``[fe80::1]:443`` → (address, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not _PORT.match(port) or int(port) > 65535 or not host:
        return None
    if host.startswith("["):
        host = host[1:-1] if host.endswith("]") else ""
    elif ":" in host:
        return None
    return (host, int(port)) if host else None


def protocol(text: str) -> str | None:
    """``TLSv1.2`` spelling for any logged protocol; None for ``-``."""
    if text in ("-", ""):
        return None
    return PROTOCOLS.get(text.lower(), text)


def alert_number(text: str) -> int | None:
    """``incoming_tls_alert``: AWS documents an integer (48); ``0x30`` hex is accepted too."""
    try:
        if text.lower().startswith("0x"):
            n = int(text, 16)
        else:
            n = int(text) if text.isdigit() else int(text, 16)
    except ValueError:
        return None
    return n if 0 <= n <= 255 else None  # an alert is one byte (RFC 8446 §6)


class LineError(ValueError):
    """A field that does not have the shape its position requires."""


def _ts(fields: list[str], i: int, name: str) -> datetime:
    ts = parse_iso(fields[i])
    if ts is None:
        raise LineError(f"field {i + 1} ({name}) {fields[i][:60]!r} is not an ISO 8601 time")
    return ts


def _addr(fields: list[str], i: int, name: str) -> str:
    hp = split_host_port(fields[i])
    if hp is None:
        raise LineError(f"field {i + 1} ({name}) {fields[i][:60]!r} is not address:port")
    return hp[0]


def _opt(value: str) -> str | None:
    return None if value == "-" else value


Row = dict[str, Any]
Parsed = tuple[str, Row | None]  # ("session" | "failure" | "skip", row)


def parse_alb_access(f: list[str]) -> Parsed:
    """One ALB access-log entry (ALB-AL field table, §1.2)."""
    logged = _ts(f, 1, "time")
    client = _addr(f, 3, "client:port")
    if not re.match(r"^(?:\d{3}|-)$", f[8]):
        raise LineError(f"field 9 (elb_status_code) {f[8][:60]!r} is not a status code")
    start = _ts(f, 21, "request_creation_time")
    if f[0] not in ALB_TYPES:
        return "skip", None  # §1.2: ignore other types
    proto = protocol(f[15])
    if proto is None:
        return "skip", None  # plain http, or a request without TLS fields: not a handshake (§1.4)
    return "session", {
        "ts": start, "ts_logged": logged, "client_addr": client, "remote_addr": client,
        "ssl_protocol": proto, "ssl_cipher": _opt(f[14]), "is_connection": None,
        "server_name": _opt(f[18]), "status": int(f[8]) if f[8].isdigit() else None,
        "session_reused": f[19] == "session-reused" if f[19] != "-" else None,
    }


def parse_alb_connection(f: list[str]) -> Parsed:
    """One ALB connection-log entry (ALB-CL field table, §2.2)."""
    ts = _ts(f, 0, "timestamp")
    client = f[1]
    if split_host_port(f"[{client}]:0" if ":" in client else f"{client}:0") is None or not client:
        raise LineError(f"field 2 (client_ip) {client[:60]!r} is not an address")
    if not _PORT.match(f[2]) or not _PORT.match(f[3]):
        raise LineError(f"fields 3-4 (client_port, listener_port) {f[2][:20]!r} {f[3][:20]!r} "
                        "are not ports")
    status = f[10]
    server = f"{f[14]}:{f[3]}" if len(f) > 14 and f[14] != "-" else f"*:{f[3]}"
    if status == "Success":
        proto = protocol(f[4])
        if proto is None:
            return "skip", None
        return "session", {"ts": ts, "ts_logged": ts, "client_addr": client, "remote_addr": client,
                           "ssl_protocol": proto, "ssl_cipher": _opt(f[5]), "is_connection": True}
    if status.startswith("Failed:"):
        code = status.split(":", 1)[1]
        return "failure", {"ts": ts, "client_addr": client, "reason": VERIFY_FAILURES.get(code, "other"),
                           "reason_text": status, "server_addr": server,
                           "lb_addr": _opt(f[14]) if len(f) > 14 else None,
                           "ts_precision_s": 1e-6}
    if status == "-":
        return "skip", None  # a connection to a non-TLS listener
    raise LineError(f"field 11 (tls_verify_status) {status[:60]!r} is neither Success nor Failed:...")


def parse_nlb_tls(f: list[str]) -> Parsed:
    """One NLB TLS-listener access-log entry (NLB-AL field table, §3.2)."""
    if f[0] != "tls":
        raise LineError(f"field 1 (type) {f[0][:20]!r} is not tls")
    end = _ts(f, 2, "time")
    client = _addr(f, 5, "client:port")
    _addr(f, 6, "destination:port")
    if not f[7].isdigit() or len(f[7]) > 12:  # 12 digits: 31 years of milliseconds
        raise LineError(f"field 8 (connection_time) {f[7][:20]!r} is not milliseconds")
    start = _ts(f, 21, "tls_connection_creation_time") if len(f) > 21 else (
        end - timedelta(milliseconds=int(f[7])))
    proto = protocol(f[15])
    if proto is not None and f[8] != "-":
        return "session", {"ts": start, "ts_logged": end, "client_addr": client,
                           "remote_addr": client, "ssl_protocol": proto,
                           "ssl_cipher": _opt(f[14]), "is_connection": True,
                           "server_name": unquote(f[17]) if f[17] != "-" else None}
    row: Row = {"ts": start, "client_addr": client, "server_addr": f[6], "ts_precision_s": 1.0}
    if f[11] != "-":
        n = alert_number(f[11])
        if n is None:
            raise LineError(f"field 12 (incoming_tls_alert) {f[11][:20]!r} is not an alert number")
        name, code = ALERTS.get(n, ("unknown", "peer_alert"))  # unknown numbers: §4.1 "other"
        row.update(reason=code, reason_text=f"incoming_tls_alert {f[11]}", alert=n, alert_name=name)
    else:
        # the NLB's own alerts (no shared cipher or version, ...) are not logged (§3.2)
        what = "no valid ClientHello" if f[12] == "-" else "no alert from the client"
        row.update(reason="other", reason_text=f"handshake not completed ({what})")
    return "failure", row


def parse_clb_access(f: list[str]) -> Parsed:
    """One Classic ELB access-log entry (CLB, §4)."""
    ts = _ts(f, 0, "timestamp")
    client = _addr(f, 2, "client:port")
    for i in (4, 5, 6):
        if not re.match(r"^-?\d+(?:\.\d+)?$", f[i]):
            raise LineError(f"field {i + 1} (processing time) {f[i][:20]!r} is not seconds")
    proto = protocol(f[14])
    if proto is None:
        return "skip", None
    return "session", {"ts": ts, "ts_logged": ts, "client_addr": client, "remote_addr": client,
                       "ssl_protocol": proto, "ssl_cipher": _opt(f[13]),
                       "is_connection": True if f[11].strip("- ") == "" else None,
                       "status": int(f[7]) if f[7].isdigit() else None}


PARSERS: dict[str, Callable[[list[str]], Parsed]] = {
    KIND_ALB_ACCESS: parse_alb_access, KIND_ALB_CONNECTION: parse_alb_connection,
    KIND_NLB_TLS: parse_nlb_tls, KIND_CLB_ACCESS: parse_clb_access,
}


def parse_line(kind: str, line: str) -> Parsed:
    """Parse one line of ``kind``; raises :class:`LineError` with a message for a bad line."""
    fields = tokenize(line)
    low, high, trailing = FIELD_COUNTS[kind]
    if len(fields) < low or (len(fields) > high and not trailing):
        expect = f"{low}" if low == high else f"{low} to {high}"
        raise LineError(f"{len(fields)} fields; a {kind} line has {expect}")
    return PARSERS[kind](fields)


def sniff(head: list[bytes]) -> str | None:
    """Which of the four kinds the first lines are (§5), or None.

    Every non-blank line of the head must start like an AWS log (an ALB type, ``tls`` or an
    ISO time), and one of them must parse: a file whose first lines use an older layout
    (an ALB connection log before ``conn_trace_id``) is still this kind, read line by line,
    its old lines rejected.
    """
    found: str | None = None
    for raw in head[:20]:
        if _CONTROL.match(raw) or not raw.strip():
            continue
        text = raw.decode("utf-8", "replace").strip()
        first = text.split(" ", 1)[0]
        if first in ALB_TYPES:
            candidates: tuple[str, ...] = (KIND_ALB_ACCESS,)
        elif first == "tls":
            candidates = (KIND_NLB_TLS,)
        elif parse_iso(first):
            candidates = (KIND_ALB_CONNECTION, KIND_CLB_ACCESS)
        else:
            return None
        if found is not None:
            continue
        for kind in candidates:
            try:
                parse_line(kind, text)
            except (LineError, IndexError, ValueError, OverflowError):
                continue
            found = kind
            break
    return found


class ElbLogReader:
    """Line reader for the four AWS load-balancer log kinds."""

    def __init__(self, file: str, options: Options, kind: str) -> None:
        if kind not in PARSERS:
            raise ValueError(f"unknown ELB log kind {kind!r}")
        self.file = file
        self.options = options
        self.kind = kind
        self._extra_warned = False

    def feed(self, data: bytes, first_line: int) -> Batch:
        """Parse whole lines; ``first_line`` is the 1-based number of the first one."""
        batch = Batch()
        sessions: list[Row] = []
        failures: list[Row] = []
        rejects: list[tuple[str, int, str, str, str]] = []
        lines = data.split(b"\n")
        if data.endswith(b"\n"):
            lines.pop()
        high = FIELD_COUNTS[self.kind][1]
        for n, raw in enumerate(lines, start=first_line):
            batch.lines += 1
            raw = raw.rstrip(b"\r")
            if not raw.strip() or _CONTROL.match(raw):
                batch.skipped += 1
                continue
            text = raw.decode("utf-8", "backslashreplace")
            try:
                what, row = parse_line(self.kind, text)
            except (LineError, IndexError, ValueError, OverflowError) as exc:
                # ValueError/OverflowError: a value our checks let through (a bug), this line only
                rejects.append((self.file, n, self.kind, str(exc), printable(raw)))
                batch.rejected += 1
                continue
            if what == "skip" or row is None:
                batch.skipped += 1
                continue
            if not self._extra_warned and len(tokenize(text)) > high:
                self._extra_warned = True
                batch.warnings.append(f"{self.kind} lines with fields beyond the {high} documented "
                                      "ones (newer than logcorr): the extra fields are ignored")
            row.update(source=self.kind, file=self.file, line=n)
            (sessions if what == "session" else failures).append(row)
            batch.parsed += 1
        if sessions:
            batch.tables["tls_sessions"] = _table("tls_sessions", sessions)
        if failures:
            for row in failures:
                row.update(client_is_real=True, client_side=True, attribution="lb_log",
                           action="SSL handshaking")
            batch.tables["handshake_failures"] = _table("handshake_failures", failures)
        if rejects:
            batch.tables["rejects"] = rejects_table(rejects)
        return batch

    def close(self) -> Batch:
        """Nothing is buffered between chunks: every line is complete when fed."""
        return Batch()


def _table(name: str, rows: list[Row]) -> pa.Table:
    full = schema.TABLES[name]
    keys = [f.name for f in full if any(f.name in r for r in rows)]
    sub = pa.schema([full.field(k) for k in keys])
    table = pa.Table.from_pylist([{k: r.get(k) for k in keys} for r in rows], schema=sub)
    return schema.conform(name, table)
