"""nginx.conf: the ``log_format`` definitions, ``access_log`` targets and the TLS profile.

A small tokenizer for nginx's configuration syntax (``src/core/ngx_conf_file.c``): words,
``'...'`` and ``"..."`` strings with ``\\`` escapes, ``#`` comments, ``;``, ``{`` and ``}``.
``include`` is followed (globs, relative paths from the directory of the main file, as
nginx resolves them from its conf prefix); a file already being read is not read again.
Blocks are not tracked: a directive means the same wherever it appears, which is what
we need for ``log_format`` (http or stream level) and is a simplification for the
``ssl_*`` directives (the last one read wins).
"""

from __future__ import annotations

import glob
import os
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


def directives(conf_path: str) -> list[Directive]:
    """Every directive of ``conf_path`` and its includes, in reading order."""
    out: list[Directive] = []
    base = os.path.dirname(os.path.abspath(conf_path))
    _read(os.path.abspath(conf_path), base, out, set())
    return out


def _read(path: str, base: str, out: list[Directive], reading: set[str]) -> None:
    if path in reading:
        return  # an include cycle: nginx would recurse until it fails; we stop
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError as exc:
        raise InputError(f"cannot read nginx configuration: {exc.strerror}", file=path) from exc
    reading.add(path)
    words: list[str] = []
    first = 0
    for tok, line, quoted in _tokens(text, path):
        if not quoted and tok in ";{}":
            if words and words[0] == "include" and len(words) == 2:
                pattern = words[1] if os.path.isabs(words[1]) else os.path.join(base, words[1])
                for inc in sorted(glob.glob(pattern)):
                    _read(os.path.abspath(inc), base, out, reading)
            elif words:
                out.append(Directive(words, path, first))
            words = []
            continue
        if not words:
            first = line
        words.append(tok)
    reading.discard(path)


def read_log_formats(conf_path: str) -> dict[str, LogFormatDef]:
    """``log_format`` definitions by name (a later definition of a name wins)."""
    out: dict[str, LogFormatDef] = {}
    for d in directives(conf_path):
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


def read_tls_profile(conf_path: str) -> dict[str, str]:
    """``ssl_protocols`` (words joined by one space), ``ssl_ciphers``, ``ssl_ecdh_curve``.

    Only the directives present are returned; the last one read wins.
    """
    out: dict[str, str] = {}
    for d in directives(conf_path):
        if d.words[0] in ("ssl_protocols", "ssl_ciphers", "ssl_ecdh_curve") and len(d.words) > 1:
            out[d.words[0]] = " ".join(d.words[1:])
    return out
