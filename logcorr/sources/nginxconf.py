"""nginx.conf: the ``log_format`` definitions, ``access_log`` targets and the TLS profile.

A small tokenizer for nginx's configuration syntax (``src/core/ngx_conf_file.c``): words,
``'...'`` and ``"..."`` strings with ``\\`` escapes, ``#`` comments, ``;``, ``{`` and ``}``.
``include`` is followed (globs, relative paths from the directory of the main file, as
nginx resolves them from its conf prefix); each file is read once, only regular files are
read, and the whole read is bounded (:data:`MAX_FILES`, :data:`MAX_BYTES`, :data:`MAX_DEPTH`).
Blocks are not tracked: a directive means the same wherever it appears, which is what
we need for ``log_format`` (http or stream level) and is a simplification for the
``ssl_*`` directives (the last one read wins).
"""

from __future__ import annotations

import glob
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from logcorr.errors import InputError


@dataclass(frozen=True)
class LogFormatDef:
    """One ``log_format NAME [escape=...] 'part' ...;`` directive."""

    name: str
    format: str  # the parts concatenated, as nginx does
    escape: str = "default"  # default | json | none (nginx-logs.md §6.5)
    file: str = ""
    line: int = 0


@dataclass
class Directive:
    """A directive's words, where it was written."""

    words: list[str]
    file: str
    line: int


def _tokens(text: str, file: str) -> Iterator[tuple[str, int, bool]]:
    """``(token, line, quoted)``; ``;``, ``{`` and ``}`` are tokens of their own."""
    i, line, n = 0, 1, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
            i += 1
        elif ch.isspace():
            i += 1
        elif ch == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif ch in ";{}":
            yield ch, line, False
            i += 1
        elif ch in "'\"":
            start_line, buf, i = line, [], i + 1
            while i < n and text[i] != ch:
                if text[i] == "\\" and i + 1 < n and text[i + 1] in (ch, "\\"):
                    i += 1
                if text[i] == "\n":
                    line += 1
                buf.append(text[i])
                i += 1
            if i >= n:
                raise InputError("unterminated quoted string", file=file, line=start_line)
            yield "".join(buf), start_line, True
            i += 1
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in ";{}\"'":
                i += 1
            yield text[start:i], line, False


# Include limits (issue 12.7): nginx itself would follow a glob loop until it runs out of
# memory, and a FIFO or /dev/zero blocks or never ends.  Each file is read once, only
# regular files are read, and a configuration bigger than this is refused.
MAX_FILES = 512
MAX_BYTES = 8 << 20  # all files together
MAX_DEPTH = 64  # include inside include ...


class _Walk:
    """State of one configuration read: files seen, bytes read, notes for the user."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.seen: set[tuple[int, int]] = set()  # (st_dev, st_ino)
        self.files = 0
        self.bytes = 0
        self.notes: list[str] = []


def directives(conf_path: str, notes: list[str] | None = None) -> list[Directive]:
    """Every directive of ``conf_path`` and its includes, in reading order.

    An included file is read once, even when several ``include`` lines (or a glob that
    matches the including file) name it; included paths that are not regular files are
    skipped, with a note appended to ``notes``.  Raises :class:`InputError` when
    ``conf_path`` cannot be read or the limits (:data:`MAX_FILES`, :data:`MAX_BYTES`,
    :data:`MAX_DEPTH`) are exceeded.
    """
    out: list[Directive] = []
    walk = _Walk(os.path.dirname(os.path.abspath(conf_path)))
    _read(os.path.abspath(conf_path), walk, out, 0, named=True)
    if notes is not None:
        notes.extend(walk.notes)
    return out


def _load(path: str, walk: _Walk, named: bool) -> str | None:
    """The text of ``path``, or None when it is skipped (not a regular file, read before)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if named:
            raise InputError(f"cannot read nginx configuration: {exc.strerror}", file=path) from exc
        _note(walk, f"{path}: include skipped: {exc.strerror}")
        return None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            if named:
                raise InputError("not a regular file", file=path)
            _note(walk, f"{path}: include skipped: not a regular file")
            return None
        key = (st.st_dev, st.st_ino)
        if key in walk.seen:
            return None
        walk.seen.add(key)
        walk.files += 1
        if walk.files > MAX_FILES:
            raise InputError(f"more than {MAX_FILES} configuration files through include", file=path)
        data = fh.read(MAX_BYTES - walk.bytes + 1)
    walk.bytes += len(data)
    if walk.bytes > MAX_BYTES:
        raise InputError(f"configuration larger than {MAX_BYTES >> 20} MiB with its includes",
                         file=path)
    return data.decode("utf-8", errors="replace")


def _note(walk: _Walk, text: str) -> None:
    if text not in walk.notes:
        walk.notes.append(text)


def _read(path: str, walk: _Walk, out: list[Directive], depth: int, named: bool = False) -> None:
    text = _load(path, walk, named)
    if text is None:
        return
    words: list[str] = []
    first = 0
    for tok, line, quoted in _tokens(text, path):
        if not quoted and tok in ";{}":
            if words and words[0] == "include" and len(words) == 2:
                if depth >= MAX_DEPTH:
                    raise InputError(f"includes nested deeper than {MAX_DEPTH}", file=path, line=first)
                for inc in _include_paths(words[1], walk.base, path, first):
                    _read(inc, walk, out, depth + 1)
            elif words:
                out.append(Directive(words, path, first))
            words = []
            continue
        if not words:
            first = line
        words.append(tok)


def _include_paths(pattern: str, base: str, file: str, line: int) -> list[str]:
    """What ``include PATTERN`` names, sorted (nginx sorts glob results too)."""
    if "\x00" in pattern:
        raise InputError("include path with a NUL byte", file=file, line=line)
    # nginx resolves a relative include from its conf prefix; a fragment read on its own
    # (snippets/fastcgi-php.conf) names files of the directory above it
    bases = [""] if os.path.isabs(pattern) else [base, os.path.dirname(base)]
    for b in bases:
        full = os.path.join(b, pattern) if b else pattern
        if not glob.has_magic(full):
            if os.path.lexists(full):
                return [os.path.abspath(full)]
            continue
        found = sorted(glob.glob(full))
        if found:
            return [os.path.abspath(p) for p in found]
    if glob.has_magic(pattern):
        return []  # nginx: a glob that matches nothing is not an error
    first = os.path.join(bases[0], pattern) if bases[0] else pattern
    return [os.path.abspath(first)]  # reported as missing, where nginx would look


def read_log_formats(conf_path: str, notes: list[str] | None = None) -> dict[str, LogFormatDef]:
    """``log_format`` definitions by name (a later definition of a name wins); ``notes``
    as for :func:`directives`."""
    out: dict[str, LogFormatDef] = {}
    for d in directives(conf_path, notes):
        if d.words[0] != "log_format" or len(d.words) < 3:
            continue
        name, rest = d.words[1], d.words[2:]
        escape = "default"
        if rest[0].startswith("escape="):
            escape = rest[0].split("=", 1)[1]
            rest = rest[1:]
        out[name] = LogFormatDef(name, "".join(rest), escape, d.file, d.line)
    return out


def read_access_logs(conf_path: str) -> dict[str, str]:
    """``access_log PATH [FORMAT]`` targets: path → format name (``combined`` by default)."""
    out: dict[str, str] = {}
    for d in directives(conf_path):
        if d.words[0] == "access_log" and len(d.words) >= 2 and d.words[1] != "off":
            fmt = d.words[2] if len(d.words) > 2 and "=" not in d.words[2] else "combined"
            out[d.words[1]] = fmt
    return out


TLS_DIRECTIVES = ("ssl_protocols", "ssl_ciphers", "ssl_ecdh_curve", "ssl_prefer_server_ciphers")


def read_tls_profile(conf_path: str) -> dict[str, str]:
    """``ssl_protocols`` (words joined by one space), ``ssl_ciphers``, ``ssl_ecdh_curve``,
    ``ssl_prefer_server_ciphers`` (``on``/``off``).

    Only the directives present are returned; the last one read wins.
    """
    out: dict[str, str] = {}
    for d in directives(conf_path):
        if d.words[0] in TLS_DIRECTIVES and len(d.words) > 1:
            out[d.words[0]] = " ".join(d.words[1:])
    return out


# Directives that only an nginx configuration has as the first word of a statement
# (DOC ngx_core_module.xml, ngx_http_core_module.xml, ngx_http_log_module.xml, ...).
KNOWN_DIRECTIVES = frozenset({
    "user", "worker_processes", "pid", "error_log", "events", "http", "stream", "include",
    "server", "listen", "server_name", "location", "upstream", "log_format", "access_log",
    "ssl_certificate", "ssl_certificate_key", "ssl_protocols", "ssl_ciphers", "root",
    "proxy_pass", "return", "worker_connections", "load_module", "keepalive_timeout",
    "sendfile", "default_type", "ssl_prefer_server_ciphers", "ssl_ecdh_curve", "index",
    "ssl_session_cache", "ssl_session_timeout", "gzip", "types", "map", "resolver",
    "add_header", "proxy_set_header", "try_files", "set_real_ip_from", "real_ip_header",
    "fastcgi_param", "scgi_param", "uwsgi_param", "fastcgi_pass", "fastcgi_index",
    "fastcgi_split_path_info", "charset_map", "ssl_dhparam", "ssl_stapling",
})
# Files that are one block of a table (mime.types, koi-utf): the block's name says it.
BLOCK_FILES = frozenset({"types", "charset_map", "http", "events", "stream", "server", "map",
                         "upstream", "location"})
SNIFF_BYTES = 8192
_DIRECTIVE = re.compile(r"^[a-z_][a-z0-9_]*$")
# a statement's first word: directive names, and the keys of types/charset_map tables
_WORD = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./+-]*$")


def sniff(head: bytes) -> bool:
    """True when the first bytes read as an nginx configuration (a main file or a
    ``sites-enabled``/``conf.d`` fragment): statements ``name args ;`` or ``name args {``,
    most of them named like directives, some of them known ones."""
    text = head[:SNIFF_BYTES].decode("utf-8", errors="replace")
    if "\x00" in text:
        return False
    first = next((ln.split(None, 1)[0] for ln in text.splitlines()
                  if ln.strip() and not ln.lstrip().startswith("#")), "")
    if not _DIRECTIVE.match(first.rstrip(";{")):
        return False  # logs start with an address, a time or "{": no need to tokenize
    names: list[str] = []
    words: list[str] = []
    try:
        for tok, _line, quoted in _tokens(text, "<head>"):
            if not quoted and tok in ";{}":
                if words:
                    names.append(words[0])
                words = []
            elif len(words) < 1000:
                words.append(tok)
    except InputError:
        pass  # a quoted string cut by the 64 KiB head
    if not names:
        return False
    named = sum(bool(_WORD.match(n)) for n in names)
    known = sum(n in KNOWN_DIRECTIVES for n in names)
    return named * 10 >= len(names) * 9 and (known * 4 >= len(names) or names[0] in BLOCK_FILES)


def is_main(conf_path: str) -> bool:
    """A main configuration (an ``http`` or ``stream`` block), not a fragment."""
    return any(d.words[0] in ("http", "stream", "events") for d in directives(conf_path))
