"""Reading planned input files into bounded commits (the second half of ``logcorr ingest``).

Rows are held in :class:`Pending` until about :data:`COMMIT_ROWS` have gathered, then
committed with the offsets they reached (``Store.commit``), so memory stays flat in input
size and a run that dies keeps what it committed.  Readers that keep no state between
chunks (the access log) may commit in the middle of a file; the others at its end.

A last line without its newline is left for the next run unless the file is final:
compressed, or not written for :data:`FINAL_AFTER_S` seconds (nginx writes whole lines,
so a half line at the end is one being written; a file idle for a minute whose last line
has no newline was cut, and that line is read as it is).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa

from logcorr import identity, inputs, schema
from logcorr.errors import InputError, LogcorrError
from logcorr.sources import Batch, Options, arrays
from logcorr.store import Store

if TYPE_CHECKING:
    from logcorr.ingestion import FileResult, IngestResult

COMMIT_ROWS = 250_000  # rows held before a commit: memory stays flat in input size (two commits held at most)
CHUNK_BYTES = 4 << 20  # bytes handed to a reader at a time
FINAL_AFTER_S = 60.0  # a file not written for this long is final: its unterminated last line is read
INGEST_TABLES = [n for n in schema.TABLES if n != "matches"]
Progress = Callable[[int], None]
T = TypeVar("T")


class Pending:
    """Rows read but not yet committed, and the commits that store them with their offsets.

    A commit runs in a background thread while the next rows are read (the Parquet
    encoding overlaps the parsing), one at a time and in order: :meth:`flush` waits for
    the previous one first, so at most two commits' rows are held.  What a commit stores
    is fixed when it is handed over (the rows, and a copy of the source entries and
    settings), so reading on cannot change it.  :meth:`close` must be called before the
    store's lock is released.
    """

    def __init__(self, store: Store, sources: list[dict[str, Any]], settings: dict[str, Any],
                 result: IngestResult) -> None:
        self.store, self.sources, self.settings, self.result = store, sources, settings, result
        self.tables: dict[str, list[pa.Table]] = {name: [] for name in INGEST_TABLES}
        self.rows = 0
        self.flushes = 0
        self.committed: dict[str, dict[str, Any]] = {}  # source id -> its entry as last committed
        self._pool: ThreadPoolExecutor | None = None
        self._running: Future[str] | None = None

    def add(self, batch: Batch, item: Item, options: Options) -> None:
        for name, table in batch.tables.items():
            if name in self.tables and table.num_rows:
                table = with_host(schema.conform(name, table), item.host)
                self.tables[name].append(table)
                self.rows += table.num_rows

    def mark(self) -> dict[str, int]:
        return {n: len(t) for n, t in self.tables.items()}

    def undo(self, mark: dict[str, int]) -> None:
        for n, k in mark.items():
            dropped = self.tables[n][k:]
            self.rows -= sum(t.num_rows for t in dropped)
            del self.tables[n][k:]

    def flush(self, always: bool = False) -> None:
        """Hand the rows held to a commit; ``always`` (the last one) commits even without
        rows, for the sources and settings, and waits for it."""
        tables = {n: pa.concat_tables(t) for n, t in self.tables.items() if t}
        if not tables and not always:
            return
        mine = json.loads(json.dumps([s for s in self.sources if int(s.get("bytes", 0)) or s.get("complete")]))
        ids = {s["id"] for s in mine}
        settings = json.loads(json.dumps(self.settings))

        def update(manifest: dict[str, Any]) -> None:
            # Under the lock, on the manifest as it is now: only this run's sources and settings change.
            kept = [s for s in manifest.get("sources", []) if s.get("id") and s["id"] not in ids]
            manifest["sources"] = kept + mine
            manifest["settings"] = settings  # ingest owns the settings (report writes none)

        self.wait()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="logcorr-commit")
        self._running = self._pool.submit(self.store.commit, tables, update=update, waited=always)
        self.flushes += 1
        self.committed.update({m["id"]: json.loads(json.dumps(m)) for m in mine})
        for n, t in tables.items():
            self.result.rows[n] = self.result.rows.get(n, 0) + t.num_rows
        self.tables = {name: [] for name in INGEST_TABLES}
        self.rows = 0
        if always:
            self.wait()

    def wait(self) -> None:
        """Wait for the commit running, if any; raise what it raised (disk full, ...)."""
        running, self._running = self._running, None
        if running is not None:
            running.result()

    def close(self) -> None:
        """Let the commit running end (its error, if any, is left to :meth:`wait`'s callers:
        an ingest that is failing already reports its own)."""
        if self._running is not None:
            with contextlib.suppress(BaseException):
                self._running.result()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


def with_host(table: pa.Table, host: str) -> pa.Table:
    """``table`` (conformed) with its ``host`` column set to ``host``."""
    i = table.schema.get_field_index("host")
    return table.set_column(i, table.schema.field(i), arrays.repeat(host, pa.string(), table.num_rows))


def keep_evidence(source: dict[str, Any], meta: dict[str, object]) -> None:
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


@dataclass
class Item:
    file: inputs.Opened
    kind: str
    fmt: str | None
    start: int  # decompressed byte offset to resume from
    start_line: int
    source: dict[str, Any]
    result: FileResult
    host: str = ""

    @property
    def path(self) -> Path:
        return self.file.path


def note_path(source: dict[str, Any], path: Path) -> None:
    if str(path) not in source["paths"]:
        source["paths"].append(str(path))


def read_item(item: Item, options: Options, out: Pending, tick: Progress | None,
          save_settings: Callable[[], None]) -> Batch:
    """Read one file from its resume offset into ``out``; return its counts, meta and warnings."""
    snapshot = json.loads(json.dumps(item.source))
    mark, flushes = out.mark(), out.flushes
    try:
        return _read_file(item, options, out, tick, save_settings)
    except LogcorrError:
        raise
    except Exception as exc:  # a reader bug must not take the other files down with it
        if os.environ.get("LOGCORR_DEBUG"):
            raise
        if out.flushes != flushes:  # parts of this file were committed: keep them
            snapshot = out.committed[item.source["id"]]
            mark = dict.fromkeys(mark, 0)
        out.undo(mark)
        item.source.clear()
        item.source.update(snapshot)
        item.result.status = "error"
        kept = int(item.source.get("lines", 0)) - item.start_line + 1
        stored = f"its first {kept} new lines were stored" if kept > 0 else "nothing from this file was stored"
        item.result.error = (f"{item.path}: internal error while reading ({type(exc).__name__}: {exc}); "
                             f"{stored}; please report this as a bug")
        return Batch()


def _account(total: Batch, batch: Batch, out: Pending, item: Item, options: Options) -> None:
    """Counts, meta and warnings of ``batch`` into ``total``; its rows into ``out``; its
    evidence into the source entry (committed with the rows)."""
    out.add(batch, item, options)
    keep_evidence(item.source, batch.meta)
    batch.tables = {}
    total.add(batch)


def _read_file(item: Item, options: Options, out: Pending, tick: Progress | None,
               save_settings: Callable[[], None]) -> Batch:
    total = Batch()
    fr, src, f = item.result, item.source, item.file
    counted = {"lines": 0, "parsed": 0, "skipped": 0, "rejected": 0}  # already in src

    def settle_source(end: int, line_no: int, tail: bytes) -> None:
        identity.advance(src, f, end, tail)
        src["lines"] = line_no - 1
        for key in ("parsed", "skipped", "rejected"):
            now = getattr(total, key)
            src[key] = int(src.get(key, 0)) + now - counted[key]
            counted[key] = now

    try:
        if item.kind in inputs.LINE_KINDS:
            reader = _line_reader(item, options)
            line_no = item.start_line
            end = item.start
            tail = b""
            # A last line without its newline is read only once the file is final (SPEC §2).
            final = f.gz or f.idle_for() >= FINAL_AFTER_S
            stateless = getattr(reader, "stateless_feed", False)
            # Chunks after the first are parsed two at a time by readers whose feed()
            # keeps no state between chunks (the access log: pyarrow releases the GIL);
            # results are taken in order, so rows and line numbers stay in file order.
            pool = ThreadPoolExecutor(2) if stateless else None
            # The others parse one chunk at a time: the next one is read meanwhile (file
            # reads and gzip inflation release the GIL).  Their source entry is settled
            # after the last chunk, so nothing else reads the file while it is read ahead.
            ahead = None if stateless else ThreadPoolExecutor(1, thread_name_prefix="logcorr-read")
            pending: deque[tuple[Future[Batch], int, int, int, bytes]] = deque()

            def settle(limit: int) -> None:
                while len(pending) > limit:
                    future, size, at, next_line, last = pending.popleft()
                    _account(total, future.result(), out, item, options)
                    if tick:
                        tick(size)
                    settle_source(at, next_line, last)
                    if out.rows >= COMMIT_ROWS:  # a bounded part, committed with its offsets
                        save_settings()
                        out.flush()

            try:
                blocks = inputs.chunks(f.stream_at(item.start), size=CHUNK_BYTES)
                for data, rel_end in blocks if ahead is None else read_ahead(blocks, ahead):
                    if not data.endswith(b"\n") and not final:
                        break  # a half-written line: read next time
                    chunk_end = item.start + rel_end
                    last = data[-identity.TAIL:]
                    if stateless:
                        n = arrays.count_lines(data)
                    if pool is not None and line_no > item.start_line:
                        pending.append((pool.submit(reader.feed, data, line_no, n), len(data), chunk_end, line_no + n, last))
                        settle(2)
                    else:
                        batch = reader.feed(data, line_no, n) if stateless else reader.feed(data, line_no)
                        if not stateless:
                            n = batch.lines  # the other readers count the lines they split (no second pass)
                        _account(total, batch, out, item, options)
                        if tick:
                            tick(len(data))
                        if stateless:
                            settle_source(chunk_end, line_no + n, last)
                    line_no += n
                    end, tail = chunk_end, last if len(last) == identity.TAIL else (tail + last)[-identity.TAIL:]
                settle(0)
            except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
                settle(0)
                if f.gz:
                    fr.error = (f"{item.path}: truncated or corrupt compressed data after line {line_no - 1} "
                                f"({exc}); the lines before it were ingested")
                else:
                    fr.error = f"{item.path}: cannot read after line {line_no - 1}: {getattr(exc, 'strerror', None) or exc}"
                fr.status = "error"
            finally:
                for running in (pool, ahead):
                    if running is not None:
                        running.shutdown(cancel_futures=True)
            _account(total, reader.close(), out, item, options)
            settle_source(end, line_no, tail)
        else:
            stream = f.stream_at(0)
            if item.kind == "nginx_conf":
                from logcorr.sources import nginxconf

                data = stream.read()
                total.lines = total.parsed = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
                notes: list[str] = []
                nginxconf.directives(str(item.path), notes)
                total.warnings.extend(notes)
                if nginxconf.is_main(str(item.path)):  # sites-enabled fragments: formats only
                    from logcorr.profile import from_nginx_conf, profile_to_json

                    total.meta["server_profiles"] = {
                        f"nginx.conf:{item.path}": profile_to_json(from_nginx_conf(str(item.path)))}
            elif item.kind == "nmap":
                from logcorr.profile import profile_to_json
                from logcorr.sources.nmap import read_nmap

                data = stream.read()
                n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
                for key, prof in read_nmap(data, str(item.path)).items():
                    total.meta.setdefault("server_profiles", {})[key] = profile_to_json(prof)  # type: ignore[index]
                total.lines = total.parsed = n_lines  # the whole report is one profile
            elif item.kind == "pcap":
                from logcorr.sources.pcap import PcapReader

                _account(total, PcapReader(str(item.path), options).read(stream), out, item, options)
            else:
                from logcorr.sources.cloudwatch import CloudWatchReader

                _account(total, CloudWatchReader(str(item.path), options).read(stream.read()), out, item, options)
            src["complete"] = True
            size = f.size()
            # datapoints (JSON), rows (CSV), lines (nmap, nginx.conf)
            settle_source(max(size, 1), total.lines + 1, b"")
            if tick:
                tick(f.st.st_size)
    except InputError as exc:
        fr.status, fr.error = "error", str(exc)
    except (OSError, EOFError, zlib.error) as exc:
        fr.status, fr.error = "error", f"{item.path}: cannot read: {getattr(exc, 'strerror', None) or exc}"
    fr.lines, fr.parsed, fr.skipped, fr.rejected = total.lines, total.parsed, total.skipped, total.rejected
    if total.meta.get("format_runs"):
        from logcorr.sources.accessformats import merge_runs

        fr.formats = merge_runs(total.meta["format_runs"])  # type: ignore[arg-type]
    if fr.status == "grown" and total.lines == 0:
        fr.status = "unchanged"
    src["last_ingest"] = datetime.now(UTC).isoformat()
    src["kind"] = item.kind
    note_path(src, item.path)
    if total.lines != total.parsed + total.skipped + total.rejected:
        out.result.warnings.append(f"{item.path}: line accounting does not add up ({total.lines} read, "
                                   f"{total.parsed} parsed, {total.skipped} skipped, {total.rejected} rejected): "
                                   "please report this as a bug")
    return total


def read_ahead(blocks: Iterator[T], pool: ThreadPoolExecutor) -> Iterator[T]:
    """The items of ``blocks``, each taken by ``pool`` while the one before is worked on.

    What taking an item raises (a damaged gzip) is raised where that item would have come.
    """
    future = pool.submit(next, blocks, None)
    while (block := future.result()) is not None:
        future = pool.submit(next, blocks, None)
        yield block


def _line_reader(item: Item, options: Options) -> Any:
    if item.kind == "nginx_error":
        from logcorr.sources.errorlog import ErrorLogReader

        return ErrorLogReader(str(item.path), options)
    if item.kind == "nginx_access":
        from logcorr.sources.accesslog import AccessLogReader

        return AccessLogReader(str(item.path), options, item.fmt)
    from logcorr.sources.elblogs import ElbLogReader

    return ElbLogReader(str(item.path), options, item.kind)
