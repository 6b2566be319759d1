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

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logcorr.errors import FormatSyntaxError

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
        m = self.regex.match(line)
        return None if m is None else {name: m.group(name) for name in self.variables}

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
        pos = 0
        sofar = "^"
        for i, part in enumerate(self.parts):
            sofar += _part_regex(part, self.parts[i + 1] if i + 1 < len(self.parts) else None,
                                 self.escape, named=False)
            m = re.match(sofar, line)
            if m is None:
                what = f"${part.name}" if isinstance(part, Var) else repr(part)
                return f"expected {what} at column {pos + 1} of the line"
            pos = m.end()
        return f"unexpected text at column {pos + 1} after the last field of the log_format"


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
            if not re.fullmatch(r"\w+", name):
                raise FormatSyntaxError("invalid variable name inside ${...}", text, start + 2)
            i = end + 1
        else:
            m = re.compile(r"\w+").match(text, i + 1)
            if m is None:
                raise FormatSyntaxError("'$' without a variable name", text, start)
            name = m.group(0)
            i = m.end()
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
    json_keys = dict(_JSON_TEMPLATE.findall(fmt)) if fmt.lstrip().startswith("{") else {}
    try:
        regex = re.compile(pattern)
    except re.error as exc:  # e.g. a variable such as $1 that is no group name (fuzzing found it)
        raise FormatSyntaxError(f"logcorr cannot read this log_format ({exc})", fmt, 0) from None
    return CompiledFormat(fmt, escape, parts, variables, pattern, regex, _csv_plan(parts, escape), json_keys)


# ---------------------------------------------------------------- column conversion


@dataclass
class BadRows:
    """Rows whose value did not have its variable's shape: row index → message."""

    errors: dict[int, str] = field(default_factory=dict)

    def flag(self, mask: np.ndarray, var: str, values: pa.Array) -> None:
        for i in np.flatnonzero(mask):
            self.errors.setdefault(int(i), f"${var} {str(values[int(i)].as_py())[:60]!r} "
                                           f"is not a valid {kind_of(var)} value")


_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_EPOCH = datetime(1970, 1, 1)


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
    delta = timedelta(hours=oh, minutes=om) * (1 if sign == "+" else -1)
    return (local - delta - _EPOCH) // timedelta(microseconds=1)


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
        return pc.equal(values, "r")
    if kind in ("int", "float", "msec"):
        try:
            num = pc.cast(values, pa.int64() if kind == "int" else pa.float64())
            return _msec_ts(num) if kind == "msec" else num
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            ok = _valid(values, spec.regex or "")
            bad.flag(~ok, var, values)
            return _convert_one(var, pc.if_else(pa.array(ok), values, _NULL), bad, escape, escaped)
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


_NULL = pa.scalar(None, pa.string())


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
    us = pc.round(pc.multiply(seconds, 1e6))
    return pc.cast(pc.cast(us, pa.int64()), TS)


def _null_marker(values: pa.Array, marker: str) -> pa.Array:
    if pa.types.is_dictionary(values.type):
        d = values.dictionary
        return pa.DictionaryArray.from_arrays(values.indices,
                                              pc.if_else(pc.equal(d, marker), _NULL, d))
    return pc.if_else(pc.equal(values, marker), _NULL, values)


def convert_columns(raw: dict[str, pa.Array], escape: str, escaped: np.ndarray | None = None,
                    ) -> tuple[dict[str, pa.Array], BadRows]:
    """Typed columns from raw field texts; ``escape`` says which not-found marker to null.

    ``default``: ``-`` is null and ``\\xHH`` is decoded; ``json``: ``""`` is null and JSON
    escapes are decoded; ``none``: ``""`` is null, nothing decoded (also for values that a
    JSON parser already decoded).  ``escaped`` (a row mask) names the rows that may hold
    escapes, when the caller knows; else every value is searched for a backslash.
    Columns may be dictionary-encoded.  Rows with a value of the wrong shape are listed in
    the returned :class:`BadRows` (their typed values are null).
    """
    bad = BadRows()
    out: dict[str, pa.Array] = {}
    marker = not_found(escape)
    for var, col in raw.items():
        values = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        out[var] = _convert_one(var, _null_marker(values, marker), bad, escape, escaped)
    return out, bad
