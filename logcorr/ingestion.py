"""``logcorr ingest``: read input files into the store, adding only what is new.

A source file is known by its content, not its name: the manifest keeps a hash of its
first bytes (``head_sha``, over ``head_len`` bytes) and how many (decompressed) bytes
were consumed.  ``access.log`` renamed to ``access.log.1`` and later gzipped to
``access.log.2.gz`` is the same source: only bytes past the stored offset are read.
"""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
import os
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa

from logcorr import inputs, schema
from logcorr.errors import InputError, LogcorrError
from logcorr.sources import Batch, Options
from logcorr.store import Store

HEAD_LEN = 1024  # bytes hashed to recognise a source; shorter files hash what they have

# Tables that ingest appends to (``matches`` belongs to ``report``).
INGEST_TABLES = [n for n in schema.TABLES if n != "matches"]


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


def local_zone() -> tzinfo:
    tz = datetime.now().astimezone().tzinfo
    assert tz is not None
    return tz


def ingest(paths: Sequence[str], data: str | Path, *, log_format: str | None = None,
           nginx_conf: str | None = None, error_tz: str | None = None,
           lb_cidrs: Sequence[str] = (), progress: Callable[[int, int], Progress] | None = None,
           ) -> IngestResult:
    """Read ``paths`` (files or directories) into the store at ``data``.

    ``progress(total_bytes, n_files)`` may return a callback that receives byte counts.
    Raises :class:`LogcorrError` for bad options; bad files are reported in the result.
    """
    missing = [p for p in paths if not os.path.lexists(p)]
    if paths and len(missing) == len(paths):  # nothing to read: create no data directory
        raise InputError("no such file or directory", file=", ".join(map(str, missing)))
    store = Store(data)
    result = IngestResult()
    networks = []
    for cidr in lb_cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError as exc:
            raise LogcorrError(f"--lb-cidr {cidr!r} is not an address or CIDR block") from exc
    options = Options(log_format=log_format, lb_networks=networks)
    if nginx_conf:
        from logcorr.sources import nginxconf

        options.formats = nginxconf.read_log_formats(nginx_conf)  # type: ignore[assignment]
    if log_format:
        _check_format(log_format, options)

    with store.lock():
        manifest = store.manifest
        sources: list[dict[str, Any]] = [dict(s) for s in manifest.get("sources", [])]
        settings: dict[str, Any] = dict(manifest.get("settings", {}))
        known_cidrs = sorted(set(settings.get("lb_cidrs", [])) | {str(n) for n in networks})
        learned: set[str] = set(settings.get("lb_addrs", []))
        offsets: dict[str, int] = dict(settings.get("utc_offsets", {}))
        profiles: dict[str, Any] = dict(settings.get("server_profiles", {}))
        if nginx_conf:
            profiles[f"nginx.conf:{nginx_conf}"] = _conf_profile(nginx_conf)

        plan = _plan(paths, store, options, sources, result)
        out: dict[str, list[pa.Table]] = {name: [] for name in INGEST_TABLES}
        total = sum(p.size for p in plan)
        tick = progress(total, len(plan)) if progress else None

        # Access logs first: their offsets set the error log's zone, their PROXY
        # addresses name the load balancers (SPEC §2).
        plan.sort(key=lambda p: {"nginx_access": 0, "nginx_error": 2}.get(p.kind, 1))
        tz_decided = False
        for item in plan:
            if item.kind == "nginx_error" and not tz_decided:
                options.error_tz, note = _resolve_tz(error_tz, offsets, settings)
                result.error_tz = str(options.error_tz)
                if note:
                    result.warnings.append(note)
                options.lb_networks = networks + _networks(learned)
                tz_decided = True
            batch = _read(item, options, result, tick)
            for name, table in batch.tables.items():
                if name in out and table.num_rows:
                    out[name].append(schema.conform(name, table))
            for k, v in dict(batch.meta.get("utc_offsets", {})).items():  # type: ignore[call-overload]
                offsets[k] = offsets.get(k, 0) + int(v)
            learned |= set(batch.meta.get("lb_candidates", set()))  # type: ignore[call-overload]
            profiles.update(dict(batch.meta.get("server_profiles", {})))  # type: ignore[call-overload]
            for w in batch.warnings:
                msg = f"{item.path}: {w}"
                if msg not in result.warnings:
                    result.warnings.append(msg)

        if not tz_decided and error_tz:
            result.error_tz = error_tz
        tables = {n: pa.concat_tables(t) for n, t in out.items() if t}
        result.rows = {n: t.num_rows for n, t in tables.items()}
        settings.update({"lb_cidrs": known_cidrs, "lb_addrs": sorted(learned), "utc_offsets": offsets,
                         "server_profiles": profiles})
        if result.error_tz:
            settings["error_tz"] = result.error_tz
        store.commit(tables, sources=sources, settings=settings)
    return result


def _conf_profile(nginx_conf: str) -> dict[str, Any]:
    """The server's TLS profile from nginx.conf (``logcorr.profile.from_nginx_conf``)."""
    from logcorr.profile import from_nginx_conf, profile_to_json

    return profile_to_json(from_nginx_conf(nginx_conf))


def _check_format(log_format: str, options: Options) -> None:
    """Fail early, with a caret, on a --log-format that does not parse."""
    from logcorr.sources import logformat

    if log_format in options.formats:
        return
    try:
        logformat.named_format(log_format)
        return
    except (KeyError, LogcorrError):
        pass
    logformat.compile_format(log_format)


def _networks(addrs: set[str]) -> list[Any]:
    """Learned load-balancer addresses as networks; anything that is not an address is dropped."""
    out = []
    for a in sorted(addrs):
        try:
            out.append(ipaddress.ip_network(a))
        except ValueError:
            continue
    return out


@dataclass
class _Item:
    path: Path
    kind: str
    fmt: str | None
    size: int
    start: int  # decompressed byte offset to resume from
    start_line: int
    source: dict[str, Any]
    result: FileResult


def _plan(paths: Sequence[str], store: Store, options: Options, sources: list[dict[str, Any]],
          result: IngestResult) -> list[_Item]:
    plan: list[_Item] = []
    seen_heads: set[tuple[int, str]] = set()
    found = inputs.discover(paths, exclude=store.path)
    _walked_confs(found, options, result)
    for path in found:
        fr = FileResult(str(path))
        result.files.append(fr)
        try:
            if not path.exists():
                raise InputError("no such file or directory", file=str(path))
            head = inputs.read_head(path)
            detected = inputs.detect(path, head, options)
        except InputError as exc:
            fr.status, fr.error = "error", str(exc)
            continue
        except OSError as exc:
            fr.status, fr.error = "error", f"{path}: cannot read: {exc}"
            continue
        except Exception as exc:  # a sniffer bug: this file only
            if os.environ.get("LOGCORR_DEBUG"):
                raise
            fr.status, fr.error = "error", (f"{path}: internal error while deciding its kind "
                                            f"({type(exc).__name__}: {exc}); please report this as a bug")
            continue
        fr.kind = detected.kind
        head_len = min(HEAD_LEN, len(head))
        sha = hashlib.sha256(head[:head_len]).hexdigest()
        if (head_len, sha) in seen_heads:
            fr.status = "unchanged"  # the same content twice in one run (a copy)
            continue
        seen_heads.add((head_len, sha))
        source = _find_source(sources, head)
        size = path.stat().st_size
        if source is None:
            source = {"head_len": head_len, "head_sha": sha, "kind": detected.kind,
                      "format": detected.fmt, "bytes": 0, "lines": 0, "parsed": 0,
                      "skipped": 0, "rejected": 0, "paths": []}
            sources.append(source)
        elif source.get("complete"):
            fr.status = "unchanged"
            _note_path(source, path)
            continue
        else:
            fr.status = "grown" if source["bytes"] else "new"
        plan.append(_Item(path, detected.kind, source.get("format") or detected.fmt, size,
                          int(source["bytes"]), int(source["lines"]) + 1, source, fr))
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


def _find_source(sources: list[dict[str, Any]], head: bytes) -> dict[str, Any] | None:
    # A file shorter than HEAD_LEN when first seen was hashed over what it had; once
    # grown, its first head_len bytes still hash the same.
    for s in sources:
        n = int(s["head_len"])
        if len(head) >= n and hashlib.sha256(head[:n]).hexdigest() == s["head_sha"]:
            return s
    return None


def _note_path(source: dict[str, Any], path: Path) -> None:
    if str(path) not in source["paths"]:
        source["paths"].append(str(path))


def _resolve_tz(error_tz: str | None, offsets: dict[str, int], settings: dict[str, Any]
                ) -> tuple[tzinfo, str | None]:
    """SPEC §2: --error-tz, else the one offset the access logs show, else the machine's zone."""
    if error_tz:
        return parse_tz(error_tz), None
    if len(offsets) == 1:
        return offset_tz(next(iter(offsets))), None
    zone = local_zone()
    if len(offsets) > 1:
        why = f"the access logs show several UTC offsets ({', '.join(sorted(offsets))})"
    else:
        why = "no access log with $time_local or $time_iso8601 was ingested"
    return zone, (f"error-log times read in this machine's zone ({zone}) because {why}; "
                  f"pass --error-tz if nginx runs in another zone")


def _read(item: _Item, options: Options, result: IngestResult, tick: Progress | None) -> Batch:
    """Read one file (from its resume offset) and update its manifest entry."""
    before = dict(item.source)
    try:
        return _read_file(item, options, result, tick)
    except LogcorrError:
        raise
    except Exception as exc:  # a reader bug must not take the other files down with it
        if os.environ.get("LOGCORR_DEBUG"):
            raise
        item.source.clear()
        item.source.update(before)
        item.result.status = "error"
        item.result.error = (f"{item.path}: internal error while reading ({type(exc).__name__}: {exc}); "
                             "nothing from this file was stored; please report this as a bug")
        return Batch()


def _read_file(item: _Item, options: Options, result: IngestResult, tick: Progress | None) -> Batch:
    total = Batch()
    fr = item.result
    fr.kind = item.kind
    src = item.source
    try:
        if item.kind in inputs.LINE_KINDS:
            reader = _line_reader(item, options)
            line_no = item.start_line
            end = item.start
            fh = inputs.open_binary(item.path)
            # Chunks after the first are parsed two at a time by readers whose feed()
            # keeps no state between chunks (the access log: pyarrow releases the GIL);
            # results are taken in order, so rows and line numbers stay in file order.
            pool = ThreadPoolExecutor(2) if getattr(reader, "stateless_feed", False) else None
            pending: deque[tuple[Future[Batch], int]] = deque()

            def settle(limit: int) -> None:
                while len(pending) > limit:
                    future, size = pending.popleft()
                    total.add(future.result())
                    if tick:
                        tick(size)

            try:
                for data, chunk_end in inputs.chunks(fh, item.start):
                    end = chunk_end  # the resume offset, kept once the chunk is read
                    n = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
                    if pool is not None and line_no > item.start_line:
                        pending.append((pool.submit(reader.feed, data, line_no), len(data)))
                        settle(2)
                    else:
                        total.add(reader.feed(data, line_no))
                        if tick:
                            tick(len(data))
                    line_no += n
                settle(0)
            except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
                fr.error = f"{item.path}: truncated or corrupt compressed data after line {line_no - 1} ({exc}); the lines before it were ingested"
                fr.status = "error"
            finally:
                fh.close()
                if pool is not None:
                    pool.shutdown(cancel_futures=True)
            total.add(reader.close())
            src["bytes"] = end
            src["lines"] = line_no - 1
            if fr.status == "error" or isinstance(fh, gzip.GzipFile):
                src["complete"] = True  # a compressed file never grows
        else:
            with inputs.open_binary(item.path) as fh:
                if item.kind == "nginx_conf":
                    from logcorr.sources import nginxconf

                    data = fh.read()
                    total.lines = total.parsed = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
                    notes: list[str] = []
                    nginxconf.directives(str(item.path), notes)
                    total.warnings.extend(notes)
                    if nginxconf.is_main(str(item.path)):  # sites-enabled fragments: formats only
                        total.meta["server_profiles"] = {f"nginx.conf:{item.path}": _conf_profile(str(item.path))}
                elif item.kind == "nmap":
                    from logcorr.profile import profile_to_json
                    from logcorr.sources.nmap import read_nmap

                    data = fh.read()
                    n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
                    for key, prof in read_nmap(data, str(item.path)).items():
                        total.meta.setdefault("server_profiles", {})[key] = profile_to_json(prof)  # type: ignore[index]
                    total.lines = total.parsed = n_lines  # the whole report is one profile
                elif item.kind == "pcap":
                    from logcorr.sources.pcap import PcapReader

                    total.add(PcapReader(str(item.path), options).read(fh))
                else:
                    from logcorr.sources.cloudwatch import CloudWatchReader

                    total.add(CloudWatchReader(str(item.path), options).read(fh.read()))
            src["complete"] = True
            src["lines"] = total.lines  # datapoints (JSON), rows (CSV), lines (nmap, nginx.conf)
            if tick:
                tick(item.size)
    except InputError as exc:
        fr.status, fr.error = "error", str(exc)
    except (OSError, EOFError, zlib.error) as exc:
        fr.status, fr.error = "error", f"{item.path}: cannot read: {exc}"
    fr.lines, fr.parsed, fr.skipped, fr.rejected = total.lines, total.parsed, total.skipped, total.rejected
    if total.meta.get("format_runs"):
        from logcorr.sources.accessformats import merge_runs

        fr.formats = merge_runs(total.meta["format_runs"])  # type: ignore[arg-type]
    if fr.status == "grown" and total.lines == 0:
        fr.status = "unchanged"
    src["last_ingest"] = datetime.now(UTC).isoformat()
    for key in ("parsed", "skipped", "rejected"):
        src[key] = int(src.get(key, 0)) + getattr(fr, key)
    src["kind"] = item.kind
    _note_path(src, item.path)
    if total.lines != total.parsed + total.skipped + total.rejected:
        result.warnings.append(f"{item.path}: line accounting does not add up ({total.lines} read, "
                               f"{total.parsed} parsed, {total.skipped} skipped, {total.rejected} rejected): "
                               "please report this as a bug")
    return total


def _line_reader(item: _Item, options: Options) -> Any:
    if item.kind == "nginx_error":
        from logcorr.sources.errorlog import ErrorLogReader

        return ErrorLogReader(str(item.path), options)
    if item.kind == "nginx_access":
        from logcorr.sources.accesslog import AccessLogReader

        return AccessLogReader(str(item.path), options, item.fmt)
    from logcorr.sources.elblogs import ElbLogReader

    return ElbLogReader(str(item.path), options, item.kind)
