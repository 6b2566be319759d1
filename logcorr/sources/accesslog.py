"""nginx access logs → ``tls_sessions``, ``plain_requests`` and ``rejects``, vectorized.

A chunk is parsed in three tiers, fastest first (``logformat`` compiles the plans):

1. pyarrow's CSV tokenizer (space delimiter, ``"`` quotes) when the format is space
   separated with free text quoted, like ``combined`` and the recommended format;
2. ``pc.extract_regex`` (RE2) with the whole-line regex for any other format;
3. Python's ``re`` for the lines the vector tiers turned down (wrong field count,
   non-ASCII bytes, stray ``\\r``...), so that each either parses or is rejected with its
   own line number, text and a message naming the field that did not fit.

JSON lines (``escape=json`` formats) are read with ``pyarrow.json`` (``json.loads`` per line
when a chunk has a bad line).  Keys map to variables through the format's template when it
is known, else by name, else by :data:`JSON_ALIASES`.

Rows: a request with ``$ssl_protocol`` is a ``tls_sessions`` row, one without is a
``plain_requests`` row (plain HTTP on a TLS port is a signal).  A format without
``$ssl_protocol`` cannot tell them apart: its lines are skipped, with a warning.  A
``$ssl_cipher`` of ``(NONE)`` is a failed handshake that the stream module logged
(``reference/nginx-logs.md`` §5, status 500/400/200): not a session; counted as parsed and
in ``Batch.meta["stream_failures"]`` (``{status: count}``); the error log has the failure.
Stream formats (with ``$session_time``) give ``source="nginx_stream"``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pjson

from logcorr import schema
from logcorr.errors import FormatSyntaxError, InputError
from logcorr.sources import Batch, Options, printable, rejects_table
from logcorr.sources.accesstiers import divert, line_starts, read_csv, read_regex
from logcorr.sources.logformat import (
    BUILTIN,
    FAMILIES,
    TS,
    VARIABLES,
    CompiledFormat,
    compile_format,
    convert_columns,
)

KIND = "nginx_access"
JSON_LINES = "json"
"""The format name of JSON lines whose template is unknown: keys are read by name."""

# JSON keys that are not variable names but commonly stand for one (our choice; the
# README lists them).  "time"-like keys are typed by what their values look like.
JSON_ALIASES: dict[str, str] = {
    "client": "remote_addr", "client_ip": "remote_addr", "remote_ip": "remote_addr",
    "ip": "remote_addr", "tls_protocol": "ssl_protocol", "tls_version": "ssl_protocol",
    "ssl_version": "ssl_protocol", "protocol": "ssl_protocol", "cipher": "ssl_cipher",
    "tls_cipher": "ssl_cipher", "sni": "ssl_server_name", "status_code": "status",
    "connection_id": "connection", "conn": "connection", "request_duration": "request_time",
    "duration": "request_time", "proxy_addr": "proxy_protocol_addr", "user_agent": "http_user_agent",
    "referer": "http_referer", "time": "*time", "timestamp": "*time", "@timestamp": "*time",
}
_TIME_SHAPES = (("msec", re.compile(r"^\d{9,}(\.\d+)?$")),
                ("time_iso8601", re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")),
                ("time_local", re.compile(r"^\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}$")))
_NULL = pa.scalar(None, pa.string())
_MAX_REQUEST_TIME_S = 366 * 86400.0


def resolve_format(spec: str, options: Options) -> str:
    """A ``--log-format`` value (a name from nginx.conf, a built-in name, or a format)."""
    if spec in options.formats:
        return _text(options.formats[spec])
    return BUILTIN.get(spec, spec)


def _text(fmt: Any) -> str:
    return str(fmt.format) if hasattr(fmt, "escape") else str(fmt)


def _compile(fmt: Any) -> CompiledFormat:
    text = _text(fmt)
    escape = getattr(fmt, "escape", None) or ("json" if text.lstrip().startswith("{") else "default")
    return compile_format(text, escape)


def candidates(options: Options) -> list[Any]:
    """Formats to try, in order: ``--log-format``, nginx.conf's, recommended, main, combined."""
    out: list[Any] = []
    if options.log_format:
        out.append(options.formats.get(options.log_format) or resolve_format(options.log_format, options))
    out.extend(options.formats.values())
    out.extend(BUILTIN[n] for n in ("recommended", "main", "combined"))
    return out


def sniff(head: list[bytes], options: Options) -> str | None:
    """The format string that parses most of ``head`` (at least half), ``"json"``, or None."""
    lines = [ln.rstrip(b"\r").decode("utf-8", "backslashreplace") for ln in head[:50] if ln.strip()]
    if not lines:
        return None
    if lines[0].lstrip().startswith("{"):
        try:
            keys = set(json.loads(lines[0]))
        except (ValueError, TypeError):
            return None
        best = max(((len(keys & set(c.json_keys)), _text(f)) for f in candidates(options)
                    if (c := _try_compile(f)) is not None and c.is_json), default=(0, JSON_LINES))
        return best[1] if best[0] else JSON_LINES
    best_fmt, best_n = None, 0
    for fmt in candidates(options):
        compiled = _try_compile(fmt)
        if compiled is None or compiled.is_json:
            continue
        n = sum(compiled.regex.match(ln) is not None for ln in lines)
        if n > best_n:
            best_fmt, best_n = _text(fmt), n
    return best_fmt if best_n * 2 >= len(lines) else None


def _try_compile(fmt: Any) -> CompiledFormat | None:
    try:
        return _compile(fmt)
    except FormatSyntaxError:
        return None


Rows = dict[str, pa.Array]


def _plain(values: pa.Array) -> pa.Array:
    """A dictionary-encoded column (the CSV tier's timestamps) as plain strings."""
    return values.dictionary_decode() if pa.types.is_dictionary(values.type) else values


class AccessLogReader:
    """Reader of one nginx access log (see the module docstring)."""

    stateless_feed = True  # after the first chunk, feed() keeps no state: chunks may run in parallel

    def __init__(self, file: str, options: Options, fmt: str | None = None) -> None:
        self.file = file
        self.options = options
        if fmt is None and options.log_format:
            fmt = resolve_format(options.log_format, options)
            fmt = options.formats.get(options.log_format, fmt)
        self.json = fmt == JSON_LINES
        self.fmt: CompiledFormat | None = None if fmt is None or self.json else _compile(fmt)
        self._warned = False

    # ------------------------------------------------------------------ driving

    def feed(self, data: bytes, first_line: int) -> Batch:
        """Parse whole lines; ``first_line`` is the 1-based number of the first one."""
        batch = Batch()
        if not data:
            return batch
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        nlines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        batch.lines = nlines
        if self.fmt is None and not self.json:
            self._detect(data, first_line)
        rejects: list[tuple[str, int, str, str, str]] = []
        if self.json or (self.fmt is not None and self.fmt.is_json):
            raw, idx, skipped = self._json(data, nlines, first_line, rejects)
            escape = "none"
        else:
            assert self.fmt is not None
            raw, idx, skipped = self._text(data, nlines, first_line, rejects)
            escape = self.fmt.escape
        batch.skipped += skipped
        escaped = None
        if escape != "none":
            escaped = np.zeros(len(idx), dtype=bool)
            if b"\\" in data:
                pos = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 92)
                hit = np.unique(np.searchsorted(line_starts(data), pos, side="right") - 1)
                escaped = np.isin(idx, hit)
        typed, bad = convert_columns(raw, escape, escaped)
        keep = np.ones(len(idx), dtype=bool)
        keep[list(bad.errors)] = False
        offsets = _offsets(raw, keep)
        if offsets:
            batch.meta["utc_offsets"] = offsets
        if bad.errors:
            lines = data.split(b"\n")
            for i, msg in sorted(bad.errors.items()):
                n = int(idx[i])
                rejects.append((self.file, first_line + n, KIND, msg, printable(lines[n])))
            typed = {k: v.filter(pa.array(keep)) for k, v in typed.items()}
            idx = idx[keep]
        batch.rejected = len(rejects)
        if rejects:
            batch.tables["rejects"] = rejects_table(sorted(rejects, key=lambda r: r[1]))
        self._emit(batch, typed, idx + first_line)
        return batch

    def close(self) -> Batch:
        """Nothing is buffered between chunks."""
        return Batch()

    def _detect(self, data: bytes, first_line: int) -> None:
        head = data[:65536].split(b"\n")[:50]
        fmt = sniff(head, self.options)
        if fmt is None:
            for n, ln in enumerate(head):
                if ln.strip():
                    raise InputError(f"no known log_format fits; first line that did not parse: "
                                     f"{printable(ln, 300)!r}", file=self.file, line=first_line + n)
            raise InputError("no known log_format fits", file=self.file, line=first_line)
        self.json = fmt == JSON_LINES
        self.fmt = None if self.json else _compile(fmt)

    # ------------------------------------------------------------------ text formats

    def _text(self, data: bytes, nlines: int, first_line: int,
              rejects: list[tuple[str, int, str, str, str]]) -> tuple[Rows, np.ndarray, int]:
        """Raw columns of the lines that fit, their 0-based line indexes, blank-line count."""
        fmt = self.fmt
        assert fmt is not None
        diverted = divert(data, fmt.escape)
        if diverted:
            buf = bytearray(data)
            starts = line_starts(data)
            for i in diverted:
                end = data.find(b"\n", starts[i])
                end = len(data) if end < 0 else end
                buf[starts[i]:end] = b"-" * (end - starts[i])
            clean = bytes(buf)
        else:
            clean = data
        got = read_csv(clean, fmt, nlines) if fmt.csv is not None else None
        if got is None:
            got = read_regex(clean, fmt, nlines)
        cols, idx, slow = got
        if diverted:
            keep = ~np.isin(idx, np.fromiter(diverted, dtype=np.int64))
            cols = {k: v.filter(pa.array(keep)) for k, v in cols.items()}
            idx = idx[keep]
            slow = sorted(set(slow) | diverted)
        # tier 3: Python regex for the lines the vector tiers turned down
        lines = data.split(b"\n") if slow else []
        skipped = 0
        extra: dict[str, list[str | None]] = {v: [] for v in fmt.variables}
        extra_idx: list[int] = []
        for i in slow:
            raw = lines[i]
            if not raw.strip():
                skipped += 1
                continue
            text = raw.decode("utf-8", "backslashreplace")
            m = fmt.match(text)
            if m is None:
                rejects.append((self.file, first_line + i, KIND, fmt.diagnose(text), printable(raw)))
                continue
            for v in fmt.variables:
                extra[v].append(m[v])
            extra_idx.append(i)
        if extra_idx:
            cols = {v: pa.concat_arrays([_plain(cols[v]), pa.array(extra[v], pa.string())])
                    for v in fmt.variables}
            idx = np.concatenate([idx, np.asarray(extra_idx, dtype=np.int64)])
            order = np.argsort(idx, kind="stable")
            cols = {k: v.take(pa.array(order)) for k, v in cols.items()}
            idx = idx[order]
        return cols, idx, skipped

    # ------------------------------------------------------------------ JSON lines

    def _json(self, data: bytes, nlines: int, first_line: int,
              rejects: list[tuple[str, int, str, str, str]]) -> tuple[Rows, np.ndarray, int]:
        lines = data.split(b"\n")[:nlines]
        good: list[int] = []
        skipped = 0
        for i, raw in enumerate(lines):
            s = raw.strip()
            if not s:
                skipped += 1
            elif s.startswith(b"{"):
                good.append(i)
            else:
                rejects.append((self.file, first_line + i, KIND, "not a JSON object", printable(raw)))
        table: pa.Table | None = None
        if good:
            try:
                joined = b"\n".join(lines[i] for i in good)
                try:
                    joined.decode("utf-8")
                except UnicodeDecodeError:
                    # escape=json writes bytes >= 0x80 raw (nginx-logs.md §6.5): Arrow strings
                    # must be UTF-8, so invalid sequences become U+FFFD.
                    joined = joined.decode("utf-8", "replace").encode("utf-8")
                buf = pa.py_buffer(joined)
                table = pjson.read_json(buf)
                if any(not pa.types.is_string(f.type) for f in table.schema):
                    # keep texts as written (pyarrow would make "2026-..." a timestamp)
                    strings = pa.schema([(f.name, pa.string()) for f in table.schema
                                         if not pa.types.is_nested(f.type)])
                    table = pjson.read_json(buf, parse_options=pjson.ParseOptions(
                        explicit_schema=strings, unexpected_field_behavior="ignore"))
                if table.num_rows != len(good):
                    table = None
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                table = None
        if table is None and good:
            objs: list[dict[str, Any]] = []
            ok: list[int] = []
            for i in good:
                try:
                    obj = json.loads(lines[i].decode("utf-8", "backslashreplace"))
                except ValueError as exc:
                    rejects.append((self.file, first_line + i, KIND, f"not valid JSON: {exc}",
                                    printable(lines[i])))
                    continue
                if isinstance(obj, dict):
                    objs.append({k: _scalar_text(v) for k, v in obj.items()})
                    ok.append(i)
                else:
                    rejects.append((self.file, first_line + i, KIND, "not a JSON object",
                                    printable(lines[i])))
            good = ok
            keys = list(dict.fromkeys(k for o in objs for k in o))
            table = pa.table({k: pa.array([o.get(k) for o in objs], pa.string()) for k in keys})
        idx = np.asarray(good, dtype=np.int64)
        return (self._json_columns(table) if table is not None else {}), idx, skipped

    def _json_columns(self, table: pa.Table) -> Rows:
        template = self.fmt.json_keys if self.fmt is not None else {}
        out: Rows = {}
        for key in table.column_names:
            var = template.get(key) or (key if key in VARIABLES or key.startswith(FAMILIES) else
                                        JSON_ALIASES.get(key))
            if var is None or var in out:
                continue
            col = table.column(key)
            try:
                text = pc.cast(col, pa.string()).combine_chunks()
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue  # nested values: no variable is an object
            if var == "*time":
                first = next((v for v in text.to_pylist() if v), None)
                var = next((n for n, rx in _TIME_SHAPES if first and rx.match(first)), "")
                if not var or var in out:
                    continue
            if var == "ssl_protocol" and key == "protocol" and not pc.all(pc.or_kleene(
                    pc.starts_with(text, "TLS"), pc.starts_with(text, "SSL"))).as_py():
                continue  # "protocol" is often $server_protocol (HTTP/1.1)
            out[var] = text
        return out

    # ------------------------------------------------------------------ output tables

    def _emit(self, batch: Batch, typed: Rows, lines: np.ndarray) -> None:
        n = len(lines)
        if not n:
            return
        col = _Columns(typed, n)
        remote = col.get("remote_addr")
        pp = col.get("proxy_protocol_addr")
        peer = pc.coalesce(col.get("realip_remote_addr"), remote)
        lb = pc.and_kleene(pc.is_valid(pp), pc.not_equal(pp, peer))
        batch.meta["lb_candidates"] = {a for a in pc.filter(peer, pc.fill_null(lb, False)).unique()
                                       .to_pylist() if a}
        client = pc.coalesce(pp, remote)
        ts_logged = pc.coalesce(col.get("msec", TS), col.get("time_iso8601", TS),
                                col.get("time_local", TS))
        ts = ts_logged
        if "msec" in typed and "request_time" in typed:
            rt = col.get("request_time", pa.float64())
            # a request time beyond a year is garbage: no start time, rather than an overflow
            rt = pc.if_else(pc.less(rt, _MAX_REQUEST_TIME_S), rt, pa.scalar(None, pa.float64()))
            took = pc.cast(pc.round(pc.multiply(rt, 1e6)), pa.int64())
            start = pc.subtract(pc.cast(typed["msec"], pa.int64()), took).cast(TS)
            ts = pc.coalesce(start, ts_logged)
        stream = "session_time" in typed
        source = "nginx_stream" if stream else KIND
        base = {"ts": ts, "ts_logged": ts_logged, "client_addr": client, "remote_addr": remote,
                "proxy_protocol_addr": pp, "conn_id": col.get("connection", pa.int64()),
                "status": col.get("status", pa.int64()), "line": pa.array(lines, pa.int64())}
        if "ssl_protocol" not in typed:
            batch.skipped += n
            if not self._warned:
                self._warned = True
                batch.warnings.append("the log_format has no $ssl_protocol, so TLS and plain "
                                      "requests cannot be told apart: lines counted, not stored")
            return
        proto = typed["ssl_protocol"]
        cipher = col.get("ssl_cipher")
        failed = pc.fill_null(pc.equal(cipher, "(NONE)"), False)
        is_tls = pc.and_(pc.is_valid(proto), pc.invert(failed))
        plain = pc.is_null(proto)
        if pc.any(failed).as_py():
            st = pc.filter(pc.cast(base["status"], pa.string()), failed)
            batch.meta["stream_failures"] = {str(d["values"]): int(d["counts"])
                                             for d in pc.value_counts(st).to_pylist()}
            batch.tables["handshake_failures"] = self._stream_failures(base, col, failed, source)
        reqs = col.get("connection_requests", pa.int64())
        sess = dict(base, source=_const(source, n), ssl_protocol=proto,
                    ssl_cipher=cipher, realip_remote_addr=col.get("realip_remote_addr"),
                    server_name=col.get("ssl_server_name"),
                    session_reused=col.get("ssl_session_reused", pa.bool_()),
                    connection_requests=reqs, is_connection=pc.equal(reqs, 1))
        sessions = pa.table({k: pc.filter(v, is_tls) for k, v in sess.items()})
        batch.tables["tls_sessions"] = schema.conform("tls_sessions", _with_file(sessions, self.file))
        if stream:
            # stream entries without TLS (PROXY errors, plain TCP) are not HTTP requests
            batch.skipped += int(pc.sum(plain).as_py() or 0)
        else:
            req = dict(base, source=_const(source, n), request=col.get("request"))
            plains = pa.table({k: pc.filter(v, plain) for k, v in req.items()})
            batch.tables["plain_requests"] = schema.conform("plain_requests",
                                                            _with_file(plains, self.file))
        batch.parsed += n - (int(pc.sum(plain).as_py() or 0) if stream else 0)


    def _stream_failures(self, base: dict[str, Any], col: Any, failed: pa.Array, source: str) -> pa.Table:
        """Stream entries of failed handshakes (``$ssl_cipher`` ``(NONE)``), as failures.

        nginx-logs.md §5: every failed stream handshake gets an access entry with
        ``$status`` 500; all but the handshake *timeout* also get an error-log line with the
        same ``*N`` (``logcorr.attribution`` merges the two, keeping the error log's reason).
        A 500 with no such line is a timeout: ``ngx_stream_ssl_handshake_handler()`` logs
        nothing then.  ``ts`` is when the entry was written (the session's end), which is
        when the error log would have said it.
        """
        n = len(failed)
        pp = base["proxy_protocol_addr"]
        from_pp = pc.fill_null(pc.is_valid(pp), False)
        rows = {
            "ts": base["ts_logged"], "source": _const(source, n), "client_addr": base["client_addr"],
            "reason": _const("timeout", n),
            "reason_text": _const("stream session ended with status 500 before the handshake "
                                  "completed (no error-log line: ssl_handshake_timeout)", n),
            "conn_id": base["conn_id"], "line": base["line"],
            "client_side": pa.array(np.ones(n, dtype=bool)), "action": _const("SSL handshaking", n),
            # realip (or the PROXY header) already names the client in stream (nginx-logs.md §4.2)
            "attribution": pc.if_else(from_pp, "stream_realip", "log_client"),
            "ts_precision_s": pa.array(np.full(n, 0.001, dtype=np.float32)),
            "status": base["status"],
        }
        table = pa.table({k: pc.filter(v, failed) for k, v in rows.items()})
        table = table.filter(pc.equal(table["status"], 500)).drop_columns(["status"])
        return schema.conform("handshake_failures", _with_file(table, self.file))


def _offsets(raw: Rows, keep: np.ndarray) -> dict[str, int]:
    """``{"+0530": rows}``: the UTC offsets that ``$time_local``/``$time_iso8601`` show."""
    out: dict[str, int] = {}
    for var, width in (("time_local", 5), ("time_iso8601", 6)):
        if var not in raw:
            continue
        texts = raw[var].filter(pa.array(keep)) if not keep.all() else raw[var]
        if pa.types.is_dictionary(texts.type):
            counts = np.bincount(texts.indices.to_numpy(zero_copy_only=False),
                                 minlength=len(texts.dictionary))
            pairs: Iterable[tuple[str | None, int]] = zip(
                texts.dictionary.to_pylist(), counts.tolist(), strict=True)
        else:
            vc = pc.value_counts(pc.utf8_slice_codeunits(texts, -width)).to_pylist()
            pairs = ((d["values"], d["counts"]) for d in vc)
        for text, count in pairs:
            tail = text[-width:] if text else None
            if tail and tail[0] in "+-" and len(tail) == width:
                key = tail.replace(":", "")
                out[key] = out.get(key, 0) + int(count)
    return out


def _scalar_text(v: Any) -> str | None:
    if v is None or isinstance(v, dict | list):
        return None
    if isinstance(v, bool):
        return "1" if v else ""
    return str(v)


def _with_file(table: pa.Table, file: str) -> pa.Table:
    return table.append_column("file", _const(file, table.num_rows))


def _const(value: str, n: int) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)),
                                          pa.array([value], pa.string()))


class _Columns:
    """Typed columns by variable; absent variables read as nulls of a given type."""

    def __init__(self, typed: Rows, n: int) -> None:
        self.typed = typed
        self.n = n

    def get(self, var: str, type_: pa.DataType | None = None) -> pa.Array:
        if var in self.typed:
            return self.typed[var]
        return pa.nulls(self.n, type_ or pa.string())


# ---------------------------------------------------------------- vector tiers
