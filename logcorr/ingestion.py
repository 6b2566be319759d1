"""``logcorr ingest``: read input files into the store, adding only what is new.

A source is known by its inode while it lives and by its content (a head hash, the offset
reached and a hash of the bytes before it): ``access.log`` renamed to ``access.log.1`` and
later gzipped to ``access.log.2.gz`` is one source, and only bytes past the stored offset
are read (:mod:`logcorr.identity`).  Each file is opened once; what identifies it and what
is read come from that one descriptor.  A last line without its newline is left for the
next run unless the file is final: compressed, or not written for a minute
(:mod:`logcorr.ingestread`).
"""

from __future__ import annotations

import ipaddress
import json
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from logcorr import identity, ingestread, inputs
from logcorr.errors import InputError, LogcorrError
from logcorr.hosts import host_of, machine_zone
from logcorr.ingestread import Item, Pending, note_path, read_item
from logcorr.sources import Options
from logcorr.store import Store

SAVE_PATIENCE_S = 5.0
"""How long an ingest keeps trying for the writer's lock before it says another run is
writing: a report saving ``matches`` holds it for a moment (SPEC: an ingest and a report
can run at once); another ingest holds it for its whole run."""

# Tables that ingest appends to (``matches`` belongs to ``report``).


@dataclass
class FileResult:
    """What one input file gave in this run."""

    path: str
    kind: str = "?"
    status: str = "new"  # new | grown | unchanged | error
    lines: int = 0
    parsed: int = 0
    skipped: int = 0
    rejected: int = 0
    error: str | None = None
    # access logs: (log_format name, first line, last line) per run of lines in one format
    formats: list[tuple[str, int, int]] = field(default_factory=list)


@dataclass
class IngestResult:
    files: list[FileResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    error_tz: str | None = None

    @property
    def partial(self) -> bool:
        """True when some file could not be read (the exit status says so)."""
        return any(f.status == "error" for f in self.files)


Progress = Callable[[int], None]


def parse_tz(text: str) -> tzinfo:
    """``--error-tz``: an IANA name (``Europe/Berlin``), ``UTC`` or an offset (``+05:30``)."""
    import re

    m = re.fullmatch(r"(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})?", text.strip())
    if m:
        sign = -1 if m.group(1) == "-" else 1
        delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0))
        return timezone(sign * delta)
    try:
        return ZoneInfo(text.strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise LogcorrError(f"--error-tz {text!r} is neither a time-zone name (Europe/Berlin) "
                           f"nor an offset (+05:30)") from exc


def offset_tz(offset: str) -> tzinfo:
    """A fixed zone from an access-log offset such as ``+0530`` or ``+05:30``."""
    return parse_tz(offset)


def _cidrs(option: str, values: Sequence[str]) -> list[str]:
    """Validated CIDR blocks of a repeatable option, as canonical strings."""
    out = []
    for cidr in values:
        try:
            out.append(str(ipaddress.ip_network(cidr.strip(), strict=False)))
        except ValueError as exc:
            raise LogcorrError(f"{option} {cidr!r} is not an address or CIDR block") from exc
    return out


def ingest(paths: Sequence[str], data: str | Path, *, log_format: str | Sequence[str] | None = None,
           nginx_conf: str | None = None, error_tz: str | None = None,
           lb_cidrs: Sequence[str] = (), scanner_cidrs: Sequence[str] = (),
           ignore_cidrs: Sequence[str] = (), host: str | None = None,
           progress: Callable[[int, int], Progress] | None = None) -> IngestResult:
    """Read ``paths`` (files or directories) into the store at ``data``.

    Rows keep what their source logged (SPEC §4): load balancers, real clients, copies and
    an inferred error-log zone are judged at report time (:mod:`logcorr.evidence`), so the
    same files give the same report in any order or grouping of ingest runs.
    ``--lb-cidr``/``--scanner``/``--ignore`` blocks are stored as settings (unions).
    ``progress(total_bytes, n_files)`` may return a callback that receives byte counts.
    Raises :class:`LogcorrError` for bad options and for a data directory that cannot be
    written; bad files are reported in the result.  Rows are committed in bounded parts
    (about ``ingestread.COMMIT_ROWS`` rows), each with the offsets it reached, so memory stays flat
    and a run that dies keeps what it committed.
    """
    missing = [p for p in paths if not os.path.lexists(p)]
    if paths and len(missing) == len(paths):  # nothing to read: create no data directory
        raise InputError("no such file or directory", file=", ".join(map(str, missing)))
    store = Store(data)
    result = IngestResult()
    given = {"lb_cidrs": _cidrs("--lb-cidr", lb_cidrs),
             "scanner_cidrs": _cidrs("--scanner", scanner_cidrs),
             "ignore_cidrs": _cidrs("--ignore", ignore_cidrs)}
    if host is not None and not host.strip():
        raise LogcorrError("--host needs a name")
    if error_tz:
        zone, tz_source = parse_tz(error_tz), "given"
    else:
        zone, tz_source = machine_zone(), "machine"
    # Readers record evidence: no load-balancer networks, the zone and how it was chosen.
    # --log-format is repeatable (SPEC §2): the first is tried first, then the others in order
    formats = [log_format] if isinstance(log_format, str) else [f for f in (log_format or []) if f]
    options = Options(log_format=formats[0] if formats else None, log_formats=formats[1:],
                      error_tz=zone, tz_source=tz_source)
    if nginx_conf:
        from logcorr.sources import nginxconf

        conf_notes: list[str] = []
        options.formats = nginxconf.read_log_formats(nginx_conf, conf_notes)  # type: ignore[assignment]
        result.warnings.extend(conf_notes)  # includes skipped (not regular files, missing)
    for fmt in formats:
        _check_format(fmt, options)
    roots = [Path(p) for p in paths]

    with store.lock(wait=SAVE_PATIENCE_S):
        manifest = store.manifest
        sources: list[dict[str, Any]] = json.loads(json.dumps(manifest.get("sources", [])))
        for s in sources:
            s.setdefault("id", uuid.uuid4().hex[:16])
        settings: dict[str, Any] = dict(manifest.get("settings", {}))
        for key, values in given.items():
            settings[key] = sorted(set(settings.get(key, [])) | set(values))
        profiles: dict[str, Any] = dict(settings.get("server_profiles", {}))
        if nginx_conf:
            profiles[f"nginx.conf:{nginx_conf}"] = _conf_profile(nginx_conf)

        opened: list[inputs.Opened] = []
        out = Pending(store, sources, settings, result)
        try:
            plan = _plan(paths, store, options, sources, result, opened)
            total = sum(p.file.st.st_size for p in plan)
            tick = progress(total, len(plan)) if progress else None

            def save_settings() -> None:
                for stale in ("lb_addrs", "utc_offsets", "error_tz"):  # schema 1 kept these globally
                    settings.pop(stale, None)
                settings["server_profiles"] = profiles

            for item in plan:
                item.host = item.source.setdefault("host", host_of(item.path, roots, host))
                if item.kind == "nginx_error":
                    item.source["error_tz"] = str(zone)
                    item.source["tz_source"] = tz_source
                    result.error_tz = (str(zone) if tz_source == "given" else
                                       f"{zone}, this machine's zone (the report uses the UTC offset "
                                       "the same host's access logs show, when they show one)")
                meta = read_item(item, options, out, tick, save_settings)
                profiles.update(dict(meta.meta.get("server_profiles", {})))  # type: ignore[call-overload]
                for w in meta.warnings:
                    msg = f"{item.file.path}: {w}"
                    if msg not in result.warnings:
                        result.warnings.append(msg)
                if out.rows >= ingestread.COMMIT_ROWS:
                    save_settings()
                    out.flush()

            save_settings()
            out.flush(always=True)
        finally:
            out.close()  # a commit still running ends under the lock
            for f in opened:
                f.close()
    return result


def _conf_profile(nginx_conf: str) -> dict[str, Any]:
    """The server's TLS profile from nginx.conf (``logcorr.profile.from_nginx_conf``)."""
    from logcorr.profile import from_nginx_conf, profile_to_json

    return profile_to_json(from_nginx_conf(nginx_conf))


def _check_format(log_format: str, options: Options) -> None:
    """Fail early, with a caret, on a --log-format that does not parse."""
    from logcorr.sources import logformat

    if log_format in options.formats:
        from logcorr.sources.accessformats import compile_spec

        compile_spec(options.formats[log_format])  # a log_format of --nginx-conf
        return
    try:
        logformat.named_format(log_format)
        return
    except (KeyError, LogcorrError):
        pass
    logformat.compile_format(log_format)


def _plan(paths: Sequence[str], store: Store, options: Options, sources: list[dict[str, Any]],
          result: IngestResult, opened: list[inputs.Opened]) -> list[Item]:
    """Open every input once, decide which source each is (:mod:`logcorr.identity`), plan reads."""
    found = inputs.discover(paths, exclude=store.path)
    for where, message, is_error in found.problems:
        if is_error:
            result.files.append(FileResult(str(where), status="error", error=message))
        elif message not in result.warnings:
            result.warnings.append(message)
    _walked_confs(found.files, options, result)
    results: dict[int, FileResult] = {}
    for path in found.files:
        fr = FileResult(str(path))
        result.files.append(fr)
        try:
            f = inputs.Opened(path)
        except InputError as exc:
            fr.status, fr.error = "error", str(exc)
            continue
        opened.append(f)
        results[id(f)] = fr
    plan: list[Item] = []
    for d in identity.decide(opened, sources):
        f, fr, src = d.file, results[id(d.file)], d.source
        if d.action != "read":
            fr.status = d.action  # unchanged | copy (of a file read in this run)
            if src is not None:
                fr.kind = str(src.get("kind", "?"))
                note_path(src, f.path)
                if f.gz and d.action == "copy":
                    identity.remember_final(src, f)
            continue
        if src is None:
            if not f.head and f.size() == 0:
                fr.status = "empty"  # a just-rotated log: nothing yet, not an error
                continue
            try:
                detected = _detect(f, options)
            except InputError as exc:
                fr.status, fr.error = "error", str(exc)
                continue
            src = identity.new_source(detected.kind, detected.fmt)
            sources.append(src)
        else:
            fr.status = "grown"
        fr.kind = str(src["kind"])
        plan.append(Item(f, str(src["kind"]), src.get("format"), int(src["bytes"]), int(src["lines"]) + 1, src, fr))
    return plan


def _walked_confs(found: list[Path], options: Options, result: IngestResult) -> None:
    """nginx configurations among the inputs give their log_formats to every access log
    of this ingest (whatever the file order); ``--nginx-conf`` names win."""
    from logcorr.sources import nginxconf

    for conf in inputs.nginx_confs(found, options):
        try:
            formats = nginxconf.read_log_formats(str(conf))
        except InputError as exc:
            result.warnings.append(f"{exc}: its log_format definitions are not used")
            continue
        for name, fmt in formats.items():
            options.formats.setdefault(name, fmt)  # type: ignore[arg-type]


def _detect(f: inputs.Opened, options: Options) -> inputs.Detected:
    try:
        return inputs.detect(f.path, inputs.sniff_head(f), options)
    except InputError:
        raise
    except Exception as exc:  # a sniffer bug: this file only
        if os.environ.get("LOGCORR_DEBUG"):
            raise
        raise InputError(f"internal error while deciding its kind ({type(exc).__name__}: {exc}); "
                         "please report this as a bug", file=str(f.path)) from exc


