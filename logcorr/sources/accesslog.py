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
``$ssl_protocol`` (``combined``) cannot tell them apart: its lines are ``plain_requests``
rows with ``tls_logged`` false (the client got an answer, at an unknown protocol), with a
warning.  A
``$ssl_cipher`` of ``(NONE)`` is a failed handshake that the stream module logged
(``reference/nginx-logs.md`` §5, status 500/400/200): not a session; counted as parsed and
in ``Batch.meta["stream_failures"]`` (``{status: count}``); the error log has the failure.
Stream formats (with ``$session_time``) give ``source="nginx_stream"``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pjson

from logcorr import schema
from logcorr.errors import InputError
from logcorr.sources import Batch, Options, arrays, printable, rejects_table
from logcorr.sources.accessformats import (
    JSON_LINES,
    Candidate,
    assign,
    candidates,
    compile_spec,
    merge_runs,
    resolve_format,
    sniff,
)
from logcorr.sources.accesstiers import line_starts, vector
from logcorr.sources.logformat import (
    FAMILIES,
    TS,
    VARIABLES,
    CompiledFormat,
    convert_columns,
    one_array,
)

__all__ = ["JSON_ALIASES", "JSON_LINES", "KIND", "AccessLogReader", "candidates", "merge_runs",
           "resolve_format", "sniff"]

KIND = "nginx_access"

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
# Arrow scalars for the compute calls (arrays.scalar: Python numbers there cost imports)
_NULL = arrays.scalar(None, pa.string())
_NULL_F = arrays.scalar(None, pa.float64())
_MAX_REQUEST_TIME_S = arrays.scalar(366 * 86400.0, pa.float64())
_US_PER_S = arrays.scalar(1e6, pa.float64())
_FIRST = arrays.scalar(1, pa.int64())  # $connection_requests of a connection's first request
_ENDED = arrays.scalar(500, pa.int64())  # $status of a failed stream handshake
_NONE_CIPHER = arrays.scalar("(NONE)", pa.string())
_TRUE, _FALSE = arrays.scalar(True, pa.bool_()), arrays.scalar(False, pa.bool_())


Rows = dict[str, pa.Array]
Reject = tuple[str, int, str, str, str]


def _plain(values: pa.Array) -> pa.Array:
    """A dictionary-encoded column (the CSV tier's timestamps) as plain strings."""
    return values.dictionary_decode() if pa.types.is_dictionary(values.type) else values


class _Lines:
    """A chunk's lines, split only when one is looked at (a chunk that one format
    parses in its vector tier never is)."""

    def __init__(self, data: bytes, n: int) -> None:
        self.data = data
        self.n = n
        self._split: list[bytes] | None = None

    def __getitem__(self, i: int | np.integer[Any]) -> bytes:
        if self._split is None:
            self._split = self.data.split(b"\n")[:self.n]
        return self._split[int(i)]


@dataclass
class _Group:
    """The lines of one chunk that one format parsed: raw columns and 0-based line indexes."""

    cand: Candidate
    cols: Rows
    idx: np.ndarray
    marked: bool = False  # the not-found marker is null in cols already (the vector tiers)


class AccessLogReader:
    """Reader of one nginx access log (see the module docstring)."""

    # after the first chunk, feed() keeps no state (chunks may run in parallel), and it takes
    # the line count of the chunk (ingest has one)
    stateless_feed = True

    def __init__(self, file: str, options: Options, fmt: Any = None) -> None:
        self.file = file
        self.options = options
        if fmt is None and options.log_format:
            fmt = options.formats.get(options.log_format) or resolve_format(options.log_format, options)
            compile_spec(fmt)  # a bad --log-format is the user's error, with a caret
        self._primary = fmt
        self._notes: list[str] = []
        self._warned: set[str] = set()
        self.cands: list[Candidate] = []
        if fmt is not None:
            self._set_candidates(fmt)

    def _set_candidates(self, fmt: Any) -> None:
        self.cands, self._notes = candidates(self.options, fmt)
        self._text_cands = [c for c in self.cands if not c.is_json]
        # JSON lines: the file's own template, else the first template of the
        # configuration, else keys by name
        self._json_cand = next((c for c in self.cands if c.is_json), Candidate(JSON_LINES, None))

    @property
    def fmt(self) -> CompiledFormat | None:
        """The file's own format (the first candidate), None for JSON lines by key."""
        return self.cands[0].fmt if self.cands else None

    @property
    def json(self) -> bool:
        return bool(self.cands) and self.cands[0].is_json

    # ------------------------------------------------------------------ driving

    def feed(self, data: bytes, first_line: int, nlines: int | None = None) -> Batch:
        """Parse whole lines; ``first_line`` is the 1-based number of the first one.

        ``nlines``, the number of lines of ``data``, spares a count when the caller has
        one (ingest counts every chunk to number the next one)."""
        batch = Batch()
        if not data:
            return batch
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        if nlines is None:
            nlines = arrays.count_lines(data)
        batch.lines = nlines
        if not self.cands:
            self._detect(data, first_line)
        if self._notes:
            batch.warnings.extend(self._notes)
            self._notes = []
        rejects: list[Reject] = []
        lines = _Lines(data, nlines)
        groups: list[_Group] = []
        if self.json:
            todo = np.arange(nlines, dtype=np.int64)
        else:
            groups, todo = self._vector(data, lines, nlines)
        # lines the vector tiers turned down: blank, JSON, or one by one (RE2) per format
        blank = np.array([not lines[i].strip() for i in todo], dtype=np.bool_)
        batch.skipped += int(blank.sum())
        todo = todo[~blank]
        is_obj = np.array([lines[i].lstrip().startswith(b"{") for i in todo], dtype=np.bool_)
        if is_obj.any():
            groups.append(self._json(lines, todo[is_obj], first_line, rejects))
        groups.extend(self._by_line(lines, todo[~is_obj], first_line, rejects))
        hit = None
        if b"\\" in data:
            pos = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 92)
            hit = np.unique(np.searchsorted(line_starts(data), pos, side="right") - 1)
        runs: list[tuple[np.ndarray, str]] = []
        for g in groups:
            if not len(g.idx):
                continue
            kept = self._typed(batch, g, lines, hit, first_line, rejects)
            runs.append((kept, g.cand.name))
        batch.rejected = len(rejects)
        if rejects:
            batch.tables["rejects"] = rejects_table(sorted(rejects, key=lambda r: r[1]))
        if len(groups) > 1:
            batch.tables = {k: _by_line_order(t) for k, t in batch.tables.items()}
        batch.meta["format_runs"] = _runs(runs, first_line)
        return batch

    def _typed(self, batch: Batch, g: _Group, lines: _Lines, hit: np.ndarray | None,
               first_line: int, rejects: list[Reject]) -> np.ndarray:
        """Convert one group's columns, reject the rows with bad values, emit the rest."""
        escape = "none" if g.cand.is_json else (g.cand.fmt.escape if g.cand.fmt else "none")
        escaped = None
        if escape != "none":
            escaped = np.isin(g.idx, hit) if hit is not None else np.zeros(len(g.idx), dtype=bool)
        typed, bad = convert_columns(g.cols, escape, escaped, marked=g.marked)
        keep = np.ones(len(g.idx), dtype=bool)
        keep[list(bad.errors)] = False
        sub = Batch()
        offsets = _offsets(g.cols, keep)
        if offsets:
            sub.meta["utc_offsets"] = offsets
        idx = g.idx
        if bad.errors:
            for i, msg in sorted(bad.errors.items()):
                n = int(idx[i])
                rejects.append((self.file, first_line + n, KIND, msg, printable(lines[n])))
            typed = {k: v.filter(pa.array(keep)) for k, v in typed.items()}
            idx = idx[keep]
        self._emit(sub, typed, idx + first_line, g.cand.name)
        batch.add(sub)
        return idx

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
        self._set_candidates(fmt)

    # ------------------------------------------------------------------ text formats

    def _vector(self, data: bytes, lines: _Lines, nlines: int) -> tuple[list[_Group], np.ndarray]:
        """Tiers 1-2, format after format: the first on the whole chunk, each next one on
        the lines the previous ones turned down.  Returns the groups and those left."""
        groups: list[_Group] = []
        todo = np.arange(nlines, dtype=np.int64)
        for cand in self._text_cands:
            if not len(todo):
                break
            assert cand.fmt is not None
            sub = data if len(todo) == nlines else b"\n".join(lines[i] for i in todo)
            cols, idx, slow = vector(sub, cand.fmt, len(todo))
            if len(idx):
                groups.append(_Group(cand, cols, todo[idx], marked=True))
            todo = todo[np.asarray(slow, dtype=np.int64)]
            if len(todo) * 20 < nlines:
                break  # a few lines left: one by one is cheaper than a pass per format
        return groups, todo

    def _by_line(self, lines: _Lines, todo: np.ndarray, first_line: int,
                 rejects: list[Reject]) -> list[_Group]:
        """Tier 3 (RE2 over the decoded lines) for each format in order; the rest rejected."""
        texts = [lines[i].decode("utf-8", "backslashreplace") for i in todo]
        which = assign(texts, self._text_cands)
        groups = []
        for k, cand in enumerate(self._text_cands):
            mine = [j for j, w in enumerate(which) if w == k]
            if not mine:
                continue
            assert cand.fmt is not None
            got = pc.extract_regex(pa.array([texts[j] for j in mine], pa.string()), cand.fmt.pattern)
            groups.append(_Group(cand, {v: got.field(v) for v in cand.fmt.variables},
                                 todo[np.asarray(mine, dtype=np.int64)]))
        left = [j for j, w in enumerate(which) if w is None]
        if left:
            first = self._text_cands[0].fmt if self._text_cands and not self.json else None
            msgs = (first.diagnose_many([texts[j] for j in left]) if first is not None
                    else ["not a JSON object"] * len(left))
            for j, msg in zip(left, msgs, strict=True):
                n = int(todo[j])
                rejects.append((self.file, first_line + n, KIND, msg, printable(lines[n])))
        return groups

    # ------------------------------------------------------------------ JSON lines

    def _json(self, lines: _Lines, todo: np.ndarray, first_line: int,
              rejects: list[Reject]) -> _Group:
        good: list[int] = [int(i) for i in todo]
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
                except (ValueError, RecursionError) as exc:
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
        return _Group(self._json_cand, self._json_columns(table) if table is not None else {}, idx)

    def _json_columns(self, table: pa.Table) -> Rows:
        jf = self._json_cand.fmt
        template = jf.json_keys if jf is not None else {}
        out: Rows = {}
        for key in table.column_names:
            var = template.get(key) or (key if key in VARIABLES or key.startswith(FAMILIES) else
                                        JSON_ALIASES.get(key))
            if var is None or var in out:
                continue
            col = table.column(key)
            try:
                text = one_array(pc.cast(col, pa.string()))
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

    def _emit(self, batch: Batch, typed: Rows, lines: np.ndarray, name: str = "") -> None:
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
            rt = pc.if_else(pc.less(rt, _MAX_REQUEST_TIME_S), rt, _NULL_F)
            took = pc.cast(pc.round(pc.multiply(rt, _US_PER_S)), pa.int64())
            start = pc.subtract(pc.cast(typed["msec"], pa.int64()), took).cast(TS)
            ts = pc.coalesce(start, ts_logged)
        stream = "session_time" in typed
        source = "nginx_stream" if stream else KIND
        base = {"ts": ts, "ts_logged": ts_logged, "client_addr": client, "remote_addr": remote,
                "proxy_protocol_addr": pp, "conn_id": col.get("connection", pa.int64()),
                "status": col.get("status", pa.int64()), "line": arrays.numbers(lines, pa.int64())}
        if "ssl_protocol" not in typed:
            # The combined format: the client got an answer, at an unknown protocol (SPEC §6).
            # Stored as requests without TLS fields (tls_logged false), never as sessions.
            if name not in self._warned:
                self._warned.add(name)
                batch.warnings.append(f"the log_format {name} has no $ssl_protocol: its lines show "
                                      "that clients got an answer, not with which TLS version")
            if not stream:
                req = dict(base, source=_const(source, n), request=col.get("request"),
                           tls_logged=pa.repeat(_FALSE, n))
                batch.tables["plain_requests"] = schema.conform(
                    "plain_requests", _with_file(pa.table(req), self.file))
                batch.parsed += n
            else:
                batch.skipped += n
            return
        proto = typed["ssl_protocol"]
        cipher = col.get("ssl_cipher")
        failed = pc.fill_null(pc.equal(cipher, _NONE_CIPHER), _FALSE)
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
                    server_name=col.get("ssl_server_name"), user_agent=col.get("http_user_agent"),
                    session_reused=col.get("ssl_session_reused", pa.bool_()),
                    connection_requests=reqs, is_connection=pc.equal(reqs, _FIRST))
        every = pc.all(is_tls).as_py() is not False  # the common case: no filter, no copy
        sessions = pa.table(sess if every else {k: pc.filter(v, is_tls) for k, v in sess.items()})
        batch.tables["tls_sessions"] = schema.conform("tls_sessions", _with_file(sessions, self.file))
        if stream:
            # stream entries without TLS (PROXY errors, plain TCP) are not HTTP requests
            batch.skipped += int(pc.sum(plain).as_py() or 0)
        else:
            req = dict(base, source=_const(source, n), request=col.get("request"),
                       tls_logged=pa.repeat(_TRUE, n))
            plains = pa.table({k: pc.filter(v, plain) for k, v in req.items()} if not every
                              else {k: v.slice(0, 0) for k, v in req.items()})
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
        table = table.filter(pc.equal(table["status"], _ENDED)).drop_columns(["status"])
        return schema.conform("handshake_failures", _with_file(table, self.file))


def _runs(groups: list[tuple[np.ndarray, str]], first_line: int) -> set[tuple[int, int, str]]:
    """``{(first_line, last_line, format name)}``: runs of consecutive parsed lines of one
    format (1-based line numbers; blank and rejected lines do not break a run)."""
    if not groups:
        return set()
    if len(groups) == 1:  # one format: its indexes are in line order
        g, name = groups[0]
        return {(int(g[0]) + first_line, int(g[-1]) + first_line, name)} if len(g) else set()
    idx = np.concatenate([g for g, _ in groups])
    names = np.concatenate([np.full(len(g), k) for k, (g, _) in enumerate(groups)])
    order = np.argsort(idx, kind="stable")
    idx, names = idx[order] + first_line, names[order]
    cut = np.flatnonzero(np.diff(names)) + 1
    starts = np.concatenate([[0], cut])
    ends = np.concatenate([cut - 1, [len(idx) - 1]])
    return {(int(idx[a]), int(idx[b]), groups[int(names[a])][1]) for a, b in zip(starts, ends, strict=True)}


def _by_line_order(table: pa.Table) -> pa.Table:
    if "line" not in table.column_names or table.num_rows < 2:
        return table
    return table.take(pc.sort_indices(table, [("line", "ascending")]))


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
    return pa.DictionaryArray.from_arrays(arrays.numbers(np.zeros(n, dtype=np.int32), pa.int32()),
                                          arrays.strings([value]))


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
