"""Which ``log_format`` a line of an nginx access log was written in.

Operators change ``log_format`` and run ``nginx -s reload`` without rotating, so one file
can hold several formats (issue 10.2).  Each line gets the first of the known formats that
parses it, in this order (:func:`candidates`):

1. the file's own format: the one that fits its first lines (stored in the manifest, so a
   grown file resumes with it), that is the one in force before;
2. ``--log-format``;
3. every ``log_format`` of ``--nginx-conf`` (and of an nginx.conf met in the inputs), in
   the order they are defined;
4. the built-ins: the recommended format, ``main``, ``combined``;
5. JSON lines (``escape=json`` templates from the configuration, else keys by name).

A format that does not compile (``$1``, say) is left out with a warning: one bad
definition in a configuration costs that definition, not every access log.
Matching uses RE2 (``pyarrow.compute``), linear in the line's length.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from logcorr.errors import FormatSyntaxError
from logcorr.sources import Options
from logcorr.sources.logformat import BUILTIN, CompiledFormat, compile_format

JSON_LINES = "json"
"""The format name of JSON lines whose template is unknown: keys are read by name."""
BUILTIN_ORDER = ("recommended", "main", "combined")


@dataclass(frozen=True)
class Candidate:
    """A format a line may be in: its name (for the summary) and compiled form.

    ``fmt`` is None for JSON lines read by key names (:data:`JSON_LINES`).
    """

    name: str
    fmt: CompiledFormat | None

    @property
    def is_json(self) -> bool:
        return self.fmt is None or self.fmt.is_json


def format_text(fmt: Any) -> str:
    """The format string of a ``LogFormatDef`` (nginx.conf) or of a plain string."""
    return str(fmt.format) if hasattr(fmt, "escape") else str(fmt)


def compile_spec(fmt: Any) -> CompiledFormat:
    """Compile a format string or ``LogFormatDef``; raises :class:`FormatSyntaxError`."""
    text = format_text(fmt)
    escape = getattr(fmt, "escape", None) or ("json" if text.lstrip().startswith("{") else "default")
    return compile_format(text, escape)


def resolve_format(spec: str, options: Options) -> str:
    """A ``--log-format`` value (a name from nginx.conf, a built-in name, or a format)."""
    if spec in options.formats:
        return format_text(options.formats[spec])
    return BUILTIN.get(spec, spec)


def candidates(options: Options, primary: Any = None) -> tuple[list[Candidate], list[str]]:
    """The formats to try, in order (module docstring), and a warning per one left out.

    ``primary`` is the file's own format (a format string, a ``LogFormatDef``,
    :data:`JSON_LINES`, or None).
    """
    specs: list[tuple[str, Any]] = []
    for lf in [options.log_format, *options.log_formats]:
        if not lf:
            continue
        if lf in options.formats:
            specs.append((lf, options.formats[lf]))
        else:
            specs.append((lf if lf in BUILTIN else "--log-format", BUILTIN.get(lf, lf)))
    specs.extend(options.formats.items())
    specs.extend((n, BUILTIN[n]) for n in BUILTIN_ORDER)
    out: list[Candidate] = []
    warnings: list[str] = []
    names: dict[tuple[str, str], str] = {}
    compiled: list[tuple[str, CompiledFormat]] = []
    for name, spec in specs:
        try:
            c = compile_spec(spec)
        except FormatSyntaxError as exc:
            where = f" ({spec.file}:{spec.line})" if getattr(spec, "file", "") else ""
            warnings.append(f"log_format {name}{where} left out: {exc.reason} at character "
                            f"{exc.pos + 1} of {format_text(spec)[:120]!r}")
            continue
        names.setdefault((c.text, c.escape), name)
        compiled.append((name, c))
    if primary is not None and primary != JSON_LINES:
        try:
            p = compile_spec(primary)
        except FormatSyntaxError:
            p = None  # the stored format no longer compiles: the others still apply
        if p is not None:
            out.append(Candidate(names.get((p.text, p.escape), "the file's first format"), p))
    seen = {(c.fmt.text, c.fmt.escape) for c in out if c.fmt is not None}
    for name, c in compiled:
        if (c.text, c.escape) not in seen:
            seen.add((c.text, c.escape))
            out.append(Candidate(name, c))
    json_first = primary == JSON_LINES
    generic = Candidate(JSON_LINES, None)
    return ([generic, *out] if json_first else [*out, generic]), warnings


def assign(texts: list[str], cands: list[Candidate]) -> list[int | None]:
    """For each text line, the index in ``cands`` of the first text format that parses it."""
    out: list[int | None] = [None] * len(texts)
    todo = list(range(len(texts)))
    for k, cand in enumerate(cands):
        if not todo:
            break
        if cand.is_json:
            continue
        assert cand.fmt is not None
        ok = pc.is_valid(pc.extract_regex(pa.array([texts[i] for i in todo], pa.string()),
                                          cand.fmt.pattern)).to_pylist()
        for i, hit in zip(todo, ok, strict=True):
            if hit:
                out[i] = k
        todo = [i for i, hit in zip(todo, ok, strict=True) if not hit]
    return out


def sniff(head: list[bytes], options: Options) -> str | None:
    """The format of a file's first lines: a format string, :data:`JSON_LINES`, or None.

    Lines of several formats count together (a reload can happen in the first lines);
    the answer is the format of the first line that parses, when at least half of the
    (up to 50) non-blank lines parse with one of the known formats.
    """
    lines = [ln.rstrip(b"\r").decode("utf-8", "backslashreplace") for ln in head[:50] if ln.strip()]
    if not lines:
        return None
    cands, _ = candidates(options)
    if lines[0].lstrip().startswith("{"):
        try:
            keys = set(json.loads(lines[0]))
        except (ValueError, TypeError):
            return None
        best = max(((len(keys & set(c.fmt.json_keys)), c.fmt.text) for c in cands
                    if c.fmt is not None and c.fmt.is_json), default=(0, JSON_LINES))
        return best[1] if best[0] else JSON_LINES
    which = assign(lines, cands)
    hits = [k for k in which if k is not None]
    if not hits or len(hits) * 2 < len(lines):
        return None
    fmt = cands[hits[0]].fmt
    assert fmt is not None
    return fmt.text


def merge_runs(runs: set[tuple[int, int, str]] | list[tuple[int, int, str]]) -> list[tuple[str, int, int]]:
    """``(name, first_line, last_line)`` runs of one file, from the per-chunk runs that
    :class:`~logcorr.sources.accesslog.AccessLogReader` puts in ``Batch.meta["format_runs"]``
    (neighbouring runs of one format, split by a chunk boundary, are joined)."""
    out: list[tuple[str, int, int]] = []
    for start, end, name in sorted(runs):
        if out and out[-1][0] == name:
            out[-1] = (name, out[-1][1], max(out[-1][2], end))
        else:
            out.append((name, start, end))
    return out
