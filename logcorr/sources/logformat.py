"""nginx ``log_format`` strings: the variable table, the compiler and the column converters.

Grammar as a table (STYLE "Grammars are tables"): :data:`VARIABLES` maps each nginx
variable to its kind, and each kind (:data:`KINDS`) to an Arrow type and a value regex.
:func:`compile_format` parses a format string once into a :class:`CompiledFormat`:
its parts, a whole-line regex (Python and RE2 alike, for ``pc.extract_regex``), and a
plan for pyarrow's CSV tokenizer when the format allows one (``accesslog`` uses it).

Values: the column of a variable is its name without ``$``.  With default escaping
(``reference/nginx-logs.md`` §6.5) ``-`` is "not found" → null and ``\\xHH`` sequences
are decoded; decoded bytes that are not UTF-8 are kept as ``\\xHH`` text, like
``rejects.text``.  With ``escape=json`` and ``escape=none`` the empty string is null.
Variables not in the table are string columns.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logcorr.errors import FormatSyntaxError
from logcorr.schema import TS_MAX_US, TS_MIN_US
from logcorr.sources import arrays

TS = pa.timestamp("us", tz="UTC")


class Kind(NamedTuple):
    """How a kind of value looks (``regex``, without the not-found marker) and is typed."""

    type: pa.DataType
    regex: str | None  # None: free text
    spaces: bool = False  # may contain a space (CSV tokens must be quoted, or split)


KINDS: dict[str, Kind] = {
    "str": Kind(pa.string(), None, spaces=True),  # free text: request, user agent, ...
    "token": Kind(pa.string(), r"\S+"),  # never a space: addresses, cipher names, SNI
    # free text that in practice has no space ($remote_user): the CSV plan reads it as one
    # token, and a line where it has a space falls to the per-line regex, which allows it
    "word": Kind(pa.string(), None),
    "int": Kind(pa.int64(), r"\d+"),
    "float": Kind(pa.float64(), r"\d+(?:\.\d+)?"),  # %T.%03M (ngx_http_variables.c)
    "msec": Kind(TS, r"\d+(?:\.\d+)?"),  # 1795714168.860
    "time_local": Kind(TS, r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}", spaces=True),
    "time_iso8601": Kind(TS, r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}"),
    "flag": Kind(pa.bool_(), r"[r.]"),  # $ssl_session_reused: r or . (nginx-logs.md §6.1)
}

# nginx variable → kind.  Sources: nginx-logs.md §6.1–6.3; DOC ngx_http_core_module.xml.
VARIABLES: dict[str, str] = {
    "remote_addr": "token", "realip_remote_addr": "token", "remote_port": "int",
    "realip_remote_port": "int", "remote_user": "word", "time_local": "time_local",
    "time_iso8601": "time_iso8601", "msec": "msec", "request": "str", "status": "int",
    "body_bytes_sent": "int", "bytes_sent": "int", "bytes_received": "int",
    "request_length": "int", "request_time": "float", "connection": "int",
    "connection_requests": "int", "connection_time": "float", "session_time": "float",
    "ssl_protocol": "token", "ssl_cipher": "token", "ssl_server_name": "token",
    "ssl_session_reused": "flag", "ssl_session_id": "token", "ssl_curve": "token",
    "ssl_curves": "token", "ssl_ciphers": "token", "ssl_alpn_protocol": "token",
    "ssl_early_data": "token", "ssl_client_verify": "str", "ssl_preread_server_name": "token",
    "ssl_preread_protocol": "token", "ssl_preread_alpn_protocols": "token",
    "proxy_protocol_addr": "token", "proxy_protocol_port": "int",
    "proxy_protocol_server_addr": "token", "proxy_protocol_server_port": "int",
    "host": "token", "hostname": "token", "server_name": "token", "server_addr": "token",
    "server_port": "int", "server_protocol": "token", "scheme": "token",
    "request_method": "token", "request_uri": "token", "request_id": "token",
    "uri": "str", "args": "str", "query_string": "str", "pipe": "flag", "pid": "int",
}
# Prefixes of variable families; every one is free text (upstream_* lists are "a, b").
FAMILIES = ("http_", "sent_http_", "upstream_", "cookie_", "arg_", "proxy_protocol_tlv_")

# Built-in formats (nginx-logs.md §6.4).
COMBINED = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
            '"$http_referer" "$http_user_agent"')
MAIN = COMBINED + ' "$http_x_forwarded_for"'
# The format the README recommends: combined, then the TLS and connection variables that
# logcorr correlates on.  Space separated, free text quoted: pyarrow's CSV reader can
# tokenize it, which is what makes ingest fast.
RECOMMENDED = (COMBINED + ' $ssl_protocol $ssl_cipher "$ssl_server_name" $ssl_session_reused '
               "$proxy_protocol_addr $realip_remote_addr $connection $connection_requests "
               "$msec $request_time")
BUILTIN: dict[str, str] = {"combined": COMBINED, "main": MAIN, "recommended": RECOMMENDED}
ESCAPES = ("default", "json", "none")


def named_format(name: str) -> str:
    """The format string of a built-in format (``combined``, ``main``, ``recommended``).

    Raises :class:`KeyError` for any other name.
    """
    return BUILTIN[name]


def kind_of(var: str) -> str:
    """The kind of an nginx variable (``str`` for unknown ones)."""
    return VARIABLES.get(var) or "str"


def arrow_type(var: str) -> pa.DataType:
    """The Arrow type of a variable's column."""
    return KINDS[kind_of(var)].type


@dataclass(frozen=True)
class Var:
    """``$name`` at ``pos`` in the format string."""

    name: str
    pos: int


Part = str | Var


@dataclass
class CsvField:
    """A variable read from CSV column(s) ``cols``; ``prefix``/``suffix`` literals stripped."""

    var: str
    cols: tuple[int, ...]
    prefix: str = ""
    suffix: str = ""


@dataclass
class CsvPlan:
    """How to read a space-separated format with pyarrow's CSV tokenizer."""

    ncols: int
    fields: list[CsvField]
    literals: list[tuple[int, str]]  # (column, text it must equal)


@dataclass
class CompiledFormat:
    """A parsed ``log_format``: parts, whole-line regex and (maybe) a CSV plan."""

    text: str
    escape: str
    parts: list[Part]
    variables: list[str]  # in order of first appearance
    pattern: str  # whole-line regex, named groups = variable names
    regex: re.Pattern[str]
    csv: CsvPlan | None
    json_keys: dict[str, str] = field(default_factory=dict)  # JSON key → variable

    @property
    def is_json(self) -> bool:
        """A JSON-lines format (``escape=json`` object template, or a line of JSON)."""
        return self.text.lstrip().startswith("{")

    def match(self, line: str) -> dict[str, str] | None:
        """Field texts of one line exactly as logged (escapes and ``-`` kept), or None."""
        return self.match_many([line])[0]

    def match_many(self, lines: list[str]) -> list[dict[str, str] | None]:
        """:meth:`match` for many lines at once, with RE2 (linear time in the line length:
        Python's ``re`` backtracks exponentially over several unquoted free-text fields)."""
        if not lines:
            return []
        got = pc.extract_regex(pa.array(lines, pa.string()), self.pattern)
        return [None if v is None else {k: v[k] for k in self.variables} for v in got.to_pylist()]

    def parse(self, line: str) -> dict[str, object] | None:
        """Typed values of one line (datetimes in UTC), or None when it does not fit."""
        raw = self.match(line)
        if raw is None:
            return None
        cols = {k: pa.array([v], pa.string()) for k, v in raw.items()}
        typed, bad = convert_columns(cols, self.escape)
        if bad.errors:
            return None
        return {k: v[0].as_py() for k, v in typed.items()}

    def diagnose(self, line: str) -> str:
        """Why ``line`` does not fit: the first part that fails, with its column."""
        return self.diagnose_many([line])[0]

    def diagnose_many(self, lines: list[str]) -> list[str]:
        """:meth:`diagnose` for many lines: one RE2 pass per part of the format."""
        out: list[str] = [""] * len(lines)
        todo = list(range(len(lines)))
        pos = [0] * len(lines)
        sofar = "^"
        for i, part in enumerate(self.parts):
            if not todo:
                break
            sofar += _part_regex(part, self.parts[i + 1] if i + 1 < len(self.parts) else None,
                                 self.escape, named=False)
            got = pc.extract_regex(pa.array([lines[j] for j in todo], pa.string()),
                                   f"(?P<m>{sofar})").to_pylist()
            what = f"${part.name}" if isinstance(part, Var) else repr(part)
            left = []
            for j, m in zip(todo, got, strict=True):
                if m is None:
                    out[j] = f"expected {what} at column {pos[j] + 1} of the line"
                else:
                    pos[j] = len(m["m"])
                    left.append(j)
            todo = left
        for j in todo:
            out[j] = f"unexpected text at column {pos[j] + 1} after the last field of the log_format"
        return out


def not_found(escape: str) -> str:
    """The text nginx writes for a variable that is not found (nginx-logs.md §6.5)."""
    return "-" if escape == "default" else ""


_HEX = re.compile(r"(?:\\x[0-9A-Fa-f]{2})+")
_JSON_ESC = re.compile(r'\\(?:u([0-9A-Fa-f]{4})|(["\\/bfnrt]))')
_JSON_CHARS = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def unescape(text: str, escape: str) -> str:
    """Undo nginx's escaping of one value (``\\xHH`` runs decoded as UTF-8 where valid)."""
    if "\\" not in text:
        return text
    if escape == "default":
        return _HEX.sub(lambda m: bytes.fromhex(m.group(0).replace("\\x", "")).decode(
            "utf-8", "backslashreplace"), text)
    if escape == "json":
        return _JSON_ESC.sub(lambda m: chr(int(m.group(1), 16)) if m.group(1)
                             else _JSON_CHARS[m.group(2)], text)
    return text


# nginx variable names: ASCII letters, digits and '_' (ngx_http_log_compile_format stops
# at the first other byte)
_NAME = re.compile(r"[A-Za-z0-9_]+")


def parse_format(text: str) -> list[Part]:
    """Split a format into literal text and variables (nginx ``ngx_http_log_compile_format``).

    Raises :class:`FormatSyntaxError` for ``$`` without a name, ``${`` without ``}``, and
    two variables with nothing between them (their boundary cannot be told).
    """
    parts: list[Part] = []
    lit = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "$":
            lit += ch
            i += 1
            continue
        start = i
        if text.startswith("${", i):
            end = text.find("}", i + 2)
            if end < 0:
                raise FormatSyntaxError("'${' without a closing '}'", text, start)
            name = text[i + 2:end]
            if not _NAME.fullmatch(name):
                raise FormatSyntaxError("invalid variable name inside ${...}", text, start + 2)
            i = end + 1
        else:
            m = _NAME.match(text, i + 1)
            if m is None:
                raise FormatSyntaxError("'$' without a variable name", text, start)
            name = m.group(0)
            i = m.end()
        if name[0].isdigit():
            # $1..$9 are regex captures (ngx_http_variables.c): empty in a log_format, and
            # not a name a column can have
            raise FormatSyntaxError(f"${name} is a regex capture, not a variable a log line "
                                    "can be read back by", text, start)
        if lit:
            parts.append(lit)
            lit = ""
        elif parts and isinstance(parts[-1], Var):
            raise FormatSyntaxError("two variables with nothing between them cannot be told "
                                    "apart", text, start)
        parts.append(Var(name, start))
    if lit:
        parts.append(lit)
    return parts


def _value_regex(var: str, escape: str, quoted: bool, nxt: Part | None) -> str:
    kind = KINDS[kind_of(var)]
    if kind.regex is not None:
        core = kind.regex if kind_of(var) != "token" or escape == "default" else r"[^\s\"]+"
        if kind_of(var) == "token" and isinstance(nxt, str) and nxt[:1] not in ("", " ", '"'):
            core = f"[^\\s{re.escape(nxt[0])}]+"  # "a|b": a token stops at the separator
    elif quoted and escape == "default":
        core = r'[^"]*'  # '"' is written as \x22 (nginx-logs.md §6.5)
    elif quoted and escape == "json":
        core = r'(?:[^"\\]|\\.)*'
    else:
        core = r".*?"
    return f"(?:{re.escape(not_found(escape))}|{core})" if escape == "default" else f"(?:{core})?"


def _part_regex(part: Part, nxt: Part | None, escape: str, named: bool = True,
                quoted: bool = False) -> str:
    if isinstance(part, str):
        return re.escape(part)
    body = _value_regex(part.name, escape, quoted, nxt)
    return f"(?P<{part.name}>{body})" if named else body


def _line_pattern(parts: list[Part], escape: str) -> str:
    out = ["^"]
    seen: set[str] = set()
    for i, part in enumerate(parts):
        prev = parts[i - 1] if i else None
        nxt = parts[i + 1] if i + 1 < len(parts) else None
        quoted = isinstance(prev, str) and prev.endswith('"') and isinstance(nxt, str) and nxt.startswith('"')
        named = isinstance(part, Var) and part.name not in seen
        out.append(_part_regex(part, nxt, escape, named=named, quoted=quoted))
        if isinstance(part, Var):
            seen.add(part.name)
    out.append("$")
    return "".join(out)


def _csv_plan(parts: list[Part], escape: str) -> CsvPlan | None:
    """A plan for pyarrow's CSV reader (space delimiter, '"' quotes), or None."""
    if escape != "default":
        return None
    tokens: list[list[Part]] = [[]]
    for part in parts:
        if isinstance(part, Var):
            tokens[-1].append(part)
            continue
        pieces = part.split(" ")
        for j, piece in enumerate(pieces):
            if j:
                tokens.append([])
            if piece:
                tokens[-1].append(piece)
    fields: list[CsvField] = []
    literals: list[tuple[int, str]] = []
    col = 0
    for tok in tokens:
        vars_ = [p for p in tok if isinstance(p, Var)]
        lits = [p for p in tok if isinstance(p, str)]
        if not vars_:
            text = "".join(lits)
            if len(text) >= 2 and text[0] == text[-1] == '"' and '"' not in text[1:-1]:
                text = text[1:-1]
            elif '"' in text:
                return None
            literals.append((col, text))
            col += 1
            continue
        if len(vars_) > 1:
            return None
        var = vars_[0].name
        if tok == ['"', vars_[0], '"']:
            fields.append(CsvField(var, (col,)))
            col += 1
            continue
        prefix = tok[0] if isinstance(tok[0], str) else ""
        suffix = tok[-1] if isinstance(tok[-1], str) else ""
        if '"' in prefix + suffix:
            return None
        if kind_of(var) == "time_local":
            fields.append(CsvField(var, (col, col + 1), prefix, suffix))
            col += 2
        elif KINDS[kind_of(var)].spaces:
            return None  # unquoted free text: only the regex can find its end
        else:
            fields.append(CsvField(var, (col,), prefix, suffix))
            col += 1
    return CsvPlan(col, fields, literals)


_JSON_TEMPLATE = re.compile(r'"([^"\\]+)"\s*:\s*"?\$\{?(\w+)\}?"?\s*[,}]')


@functools.lru_cache(maxsize=256)
def compile_format(fmt: str, escape: str = "default") -> CompiledFormat:
    """Compile an nginx ``log_format`` string (see the module docstring).

    ``escape`` is the directive's ``escape=`` parameter.  Raises
    :class:`FormatSyntaxError` with the position of the problem.
    """
    if escape not in ESCAPES:
        raise FormatSyntaxError(f"escape={escape} is not one of {', '.join(ESCAPES)}", fmt, 0)
    if not fmt.strip():
        raise FormatSyntaxError("empty log_format", fmt, 0)
    parts = parse_format(fmt)
    variables = list(dict.fromkeys(p.name for p in parts if isinstance(p, Var)))
    if not variables:
        raise FormatSyntaxError("a log_format without variables logs nothing we can use", fmt, 0)
    pattern = _line_pattern(parts, escape)
    try:
        regex = re.compile(pattern)
        pc.extract_regex(pa.array([""], pa.string()), pattern)  # RE2 (the vector tiers) too
    except (re.error, pa.ArrowInvalid) as exc:  # a bug of ours, but it must cost this format only
        raise FormatSyntaxError(f"cannot be compiled ({exc})", fmt, 0) from exc
    json_keys = dict(_JSON_TEMPLATE.findall(fmt)) if fmt.lstrip().startswith("{") else {}
    return CompiledFormat(fmt, escape, parts, variables, pattern, regex,
                          _csv_plan(parts, escape), json_keys)


# ---------------------------------------------------------------- column conversion


@dataclass
class BadRows:
    """Rows whose value did not have its variable's shape: row index → message."""

    errors: dict[int, str] = field(default_factory=dict)

    def flag(self, mask: np.ndarray, var: str, values: pa.Array, why: str = "") -> None:
        why = why or f"is not a valid {kind_of(var)} value"
        for i in np.flatnonzero(mask):
            self.errors.setdefault(int(i), f"${var} {str(values[int(i)].as_py())[:60]!r} {why}")


_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_EPOCH = datetime(1970, 1, 1)
# UTC offsets in use run from -12:00 to +14:00 (IANA tzdata); ±14:59 is the most we accept.
MAX_OFFSET_H = 14


def _time_us(text: str, kind: str) -> int | None:
    """Microseconds since the epoch (UTC) of a ``$time_local`` / ``$time_iso8601`` text."""
    try:
        if kind == "time_local":  # 26/Nov/2026:17:29:28 +0000
            y, mo, d = int(text[7:11]), _MONTHS[text[3:6]], int(text[0:2])
            hh, mi, ss, off = int(text[12:14]), int(text[15:17]), int(text[18:20]), text[21:26]
            sign, oh, om = off[0], int(off[1:3]), int(off[3:5])
        else:  # 2026-11-26T17:29:28+00:00
            y, mo, d = int(text[0:4]), int(text[5:7]), int(text[8:10])
            hh, mi, ss, off = int(text[11:13]), int(text[14:16]), int(text[17:19]), text[19:25]
            sign, oh, om = off[0], int(off[1:3]), int(off[4:6])
        local = datetime(y, mo, d, hh, mi, ss)
    except (ValueError, KeyError, IndexError):
        return None
    if sign not in "+-" or oh > MAX_OFFSET_H or om > 59:
        return None
    delta = timedelta(hours=oh, minutes=om) * (1 if sign == "+" else -1)
    us = (local - delta - _EPOCH) // timedelta(microseconds=1)
    return us if TS_MIN_US <= us < TS_MAX_US else None


def utc_offset(text: str, kind: str) -> str:
    """The ``+0530`` offset shown by a time text."""
    return text[21:26] if kind == "time_local" else text[19:22] + text[23:25]


def _valid(values: pa.Array, regex: str) -> np.ndarray:
    ok = pc.match_substring_regex(values, f"^(?:{regex})$")
    return np.asarray(pc.fill_null(ok, True).to_numpy(zero_copy_only=False), dtype=bool)


def _convert_one(var: str, values: pa.Array, bad: BadRows, escape: str,
                 escaped: np.ndarray | None) -> pa.Array:
    kind = kind_of(var)
    spec = KINDS[kind]
    if pa.types.is_dictionary(values.type) and kind not in ("time_local", "time_iso8601"):
        values = values.cast(pa.string())
    if kind in ("str", "token", "word"):
        return _unescape_column(values, escape, escaped)
    if kind == "flag":
        ok = _valid(values, spec.regex or "")
        if not ok.all():
            bad.flag(~ok, var, values)
            values = pc.if_else(pa.array(ok), values, _NULL)
        return pc.equal(values, _REUSED)
    if kind in ("int", "float", "msec"):
        target = pa.int64() if kind == "int" else pa.float64()
        try:
            num = pc.cast(values, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            # value by value: the shape (regex), then the range (an int wider than int64)
            ok = _valid(values, spec.regex or "") & _fits(values, kind)
            bad.flag(~ok, var, values)
            num = pc.cast(pc.if_else(pa.array(ok), values, _NULL), target)
        if kind == "msec":
            ok = np.asarray(pc.fill_null(pc.and_(pc.greater_equal(num, _MIN_S), pc.less(num, _MAX_S)), True)
                            .to_numpy(zero_copy_only=False), dtype=bool)
            if not ok.all():
                bad.flag(~ok, var, values, "is outside 1970-2200")
                num = pc.if_else(pa.array(ok), num, _NULL_F)
            return _msec_ts(num)
        return num
    # time_local / time_iso8601: parse each distinct text once (timestamps repeat a lot)
    enc = values if pa.types.is_dictionary(values.type) else pc.dictionary_encode(values)
    texts = enc.dictionary.to_pylist()
    us = [None if t is None else _time_us(t, kind) for t in texts]
    for j, t in enumerate(texts):
        if us[j] is None and t is not None:
            mask = np.asarray(pc.fill_null(pc.equal(enc.indices, j), False))
            bad.flag(mask, var, values)
    parsed = pa.array(us, pa.int64())
    return pc.take(parsed, enc.indices).cast(TS)


_NULL = pa.nulls(1, pa.string())[0]  # pa.scalar would import pandas (sources/arrays.py)
_REUSED = arrays.scalar("r", pa.string())  # $ssl_session_reused of a reused session
_NULL_F = arrays.scalar(None, pa.float64())
_US_PER_S = arrays.scalar(1e6, pa.float64())
_MIN_S, _MAX_S = arrays.scalar(TS_MIN_US / 1e6, pa.float64()), arrays.scalar(TS_MAX_US / 1e6, pa.float64())
_INT64_MAX = 2**63 - 1


def _fits(values: pa.Array, kind: str) -> np.ndarray:
    """Per value: does it convert (an int within int64, a finite float)?"""
    out = np.ones(len(values), dtype=bool)
    for i, v in enumerate(values.to_pylist()):
        if v is None:
            continue
        try:
            out[i] = abs(int(v)) <= _INT64_MAX if kind == "int" else np.isfinite(float(v))
        except (ValueError, OverflowError):
            out[i] = False
    return out


def _unescape_column(values: pa.Array, escape: str, escaped: np.ndarray | None) -> pa.Array:
    """Decode escapes in the rows that may have them (``escaped``: row mask; None: look)."""
    if escape == "none":
        return values
    if escaped is None:
        escaped = np.asarray(pc.fill_null(pc.match_substring(values, "\\"), False)
                             .to_numpy(zero_copy_only=False), dtype=bool)
    if not escaped.any():
        return values
    rows = np.flatnonzero(escaped)
    old = values.take(pa.array(rows)).to_pylist()
    new = pa.array([None if v is None else unescape(v, escape) for v in old], pa.string())
    return pc.replace_with_mask(values, pa.array(escaped), new)


def _msec_ts(seconds: pa.Array) -> pa.Array:
    us = pc.round(pc.multiply(seconds, _US_PER_S))
    return pc.cast(pc.cast(us, pa.int64()), TS)


def null_marker(values: pa.Array, marker: str) -> pa.Array:
    """``values`` with ``marker`` (the not-found text) null."""
    text = arrays.scalar(marker, pa.string())
    if pa.types.is_dictionary(values.type):
        d = values.dictionary
        return pa.DictionaryArray.from_arrays(values.indices,
                                              pc.if_else(pc.equal(d, text), _NULL, d))
    found = pc.equal(values, text)
    if not pc.any(found).as_py():  # most columns of most chunks: nothing to copy
        return values
    return pc.if_else(found, _NULL, values)


def one_array(col: pa.ChunkedArray) -> pa.Array:
    """The chunks of ``col`` as one array; its only chunk as it is (``combine_chunks``
    copies even one chunk: a copy of every chunk of the log, and the pages it faults in)."""
    return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()


def convert_columns(raw: dict[str, pa.Array], escape: str, escaped: np.ndarray | None = None,
                    marked: bool = False) -> tuple[dict[str, pa.Array], BadRows]:
    """Typed columns from raw field texts; ``escape`` says which not-found marker to null.

    ``default``: ``-`` is null and ``\\xHH`` is decoded; ``json``: ``""`` is null and JSON
    escapes are decoded; ``none``: ``""`` is null, nothing decoded (also for values that a
    JSON parser already decoded).  ``escaped`` (a row mask) names the rows that may hold
    escapes, when the caller knows; else every value is searched for a backslash.
    Columns may be dictionary-encoded.  Rows with a value of the wrong shape are listed in
    the returned :class:`BadRows` (their typed values are null).  ``marked``: the
    not-found marker is null in ``raw`` already (the vector tiers of ``accesstiers``).
    """
    bad = BadRows()
    out: dict[str, pa.Array] = {}
    marker = not_found(escape)
    for var, col in raw.items():
        values = one_array(col) if isinstance(col, pa.ChunkedArray) else col
        out[var] = _convert_one(var, values if marked else null_marker(values, marker), bad, escape, escaped)
    return out, bad
