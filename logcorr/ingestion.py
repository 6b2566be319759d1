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
from logcorr.hosts import host_of, machine_zone
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


def ingest(paths: Sequence[str], data: str | Path, *, log_format: str | None = None,
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
    Raises :class:`LogcorrError` for bad options; bad files are reported in the result.
    """
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
    options = Options(log_format=log_format, error_tz=zone, tz_source=tz_source)
    if nginx_conf:
        from logcorr.sources import nginxconf

        options.formats = nginxconf.read_log_formats(nginx_conf)  # type: ignore[assignment]
    if log_format:
        _check_format(log_format, options)
    roots = [Path(p) for p in paths]

    with store.lock():
        manifest = store.manifest
        sources: list[dict[str, Any]] = [dict(s) for s in manifest.get("sources", [])]
        settings: dict[str, Any] = dict(manifest.get("settings", {}))
        for key, values in given.items():
            settings[key] = sorted(set(settings.get(key, [])) | set(values))
        profiles: dict[str, Any] = dict(settings.get("server_profiles", {}))
        if nginx_conf:
            profiles[f"nginx.conf:{nginx_conf}"] = _conf_profile(nginx_conf)

        plan = _plan(paths, store, options, sources, result)
        out: dict[str, list[pa.Table]] = {name: [] for name in INGEST_TABLES}
        total = sum(p.size for p in plan)
        tick = progress(total, len(plan)) if progress else None
        for item in plan:
            item_host = item.source.setdefault("host", host_of(item.path, roots, host))
            if item.kind == "nginx_error":
                item.source["error_tz"] = str(zone)
                item.source["tz_source"] = tz_source
                result.error_tz = (str(zone) if tz_source == "given" else
                                   f"{zone}, this machine's zone (the report uses the UTC offset "
                                   "the same host's access logs show, when they show one)")
            batch = _read(item, options, result, tick)
            for name, table in batch.tables.items():
                if name in out and table.num_rows:
                    table = _with_host(schema.conform(name, table), item_host)
                    if item.kind == "nginx_error" and "ts_wall" in table.column_names:
                        table = _with_wall_clock(table, zone, tz_source)
                    out[name].append(table)
            _keep_evidence(item.source, batch.meta)
            profiles.update(dict(batch.meta.get("server_profiles", {})))  # type: ignore[call-overload]
            for w in batch.warnings:
                msg = f"{item.path}: {w}"
                if msg not in result.warnings:
                    result.warnings.append(msg)

        tables = {n: pa.concat_tables(t) for n, t in out.items() if t}
        result.rows = {n: t.num_rows for n, t in tables.items()}
        for stale in ("lb_addrs", "utc_offsets", "error_tz"):  # schema 1 kept these globally
            settings.pop(stale, None)
        settings["server_profiles"] = profiles
        store.commit(tables, sources=sources, settings=settings)
    return result


def _with_host(table: pa.Table, host: str) -> pa.Table:
    """``table`` (conformed) with its ``host`` column set to ``host``."""
    i = table.schema.get_field_index("host")
    return table.set_column(i, table.schema.field(i), pa.repeat(pa.scalar(host, pa.string()), table.num_rows))


def _zone_name(zone: tzinfo) -> str:
    """An Arrow time-zone name: the IANA key, else ``+HH:MM``."""
    key = getattr(zone, "key", None)
    if key:
        return str(key)
    delta = zone.utcoffset(None) or timedelta(0)
    sign = "-" if delta < timedelta(0) else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _with_wall_clock(table: pa.Table, zone: tzinfo, tz_source: str) -> pa.Table:
    """Fill ``ts_wall`` (the wall clock nginx wrote, digits labelled UTC) and ``tz_source``.

    The reader placed the wall clock in ``zone``; converting back gives the logged digits
    (a repeated hour reads back as its first occurrence, as the reader chose).
    """
    import pyarrow.compute as pc

    if table.column("ts_wall").null_count < table.num_rows:
        return table  # the reader filled it
    ts = table.column("ts")
    local = pc.local_timestamp(ts.cast(pa.timestamp("us", tz=_zone_name(zone))))
    wall = local.cast(pa.timestamp("us")).cast(schema.TS)
    i = table.schema.get_field_index("ts_wall")
    table = table.set_column(i, table.schema.field(i), wall)
    j = table.schema.get_field_index("tz_source")
    return table.set_column(j, table.schema.field(j), pa.repeat(pa.scalar(tz_source), table.num_rows))


def _keep_evidence(source: dict[str, Any], meta: dict[str, object]) -> None:
    """Per-source evidence the report judges with: UTC offsets seen, load-balancer peers."""
    offsets = dict(meta.get("utc_offsets", {}) or {})  # type: ignore[call-overload]
    if offsets:
        kept = dict(source.get("utc_offsets", {}))
        for k, v in offsets.items():
            kept[str(k)] = int(kept.get(str(k), 0)) + int(v)
        source["utc_offsets"] = kept
    peers = set(meta.get("lb_candidates", set()) or set())  # type: ignore[call-overload]
    if peers:
        source["lb_candidates"] = sorted(set(source.get("lb_candidates", [])) | {str(p) for p in peers})


def _conf_profile(nginx_conf: str) -> dict[str, Any]:
    """The server's TLS profile from nginx.conf's ssl_protocols / ssl_ciphers / ssl_ecdh_curve."""
    from logcorr.profile import from_nginx, profile_to_json
    from logcorr.sources import nginxconf

    tls = nginxconf.read_tls_profile(nginx_conf)
    prof = from_nginx(tls.get("ssl_protocols"), tls.get("ssl_ciphers"), tls.get("ssl_ecdh_curve"))
    prof.name = nginx_conf
    return profile_to_json(prof)


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
    for path in inputs.discover(paths, exclude=store.path):
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
                if item.kind == "nmap":
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
            if tick:
                tick(item.size)
    except InputError as exc:
        fr.status, fr.error = "error", str(exc)
    except (OSError, EOFError, zlib.error) as exc:
        fr.status, fr.error = "error", f"{item.path}: cannot read: {exc}"
    fr.lines, fr.parsed, fr.skipped, fr.rejected = total.lines, total.parsed, total.skipped, total.rejected
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
