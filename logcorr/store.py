"""The data directory: Parquet datasets, the manifest of ingested sources, atomic commits.

Layout (SPEC §4)::

    DATA/manifest.json                                  what is committed, what each source gave
    DATA/<table>/date=YYYY-MM-DD/<commit>-<n>.parquet   rows of that UTC day (by ``ts``)

Partitions are hive style, so DuckDB (``read_parquet('DATA/tls_sessions/**/*.parquet',
hive_partitioning=true)``), pyarrow (``pyarrow.dataset.dataset(DATA/'tls_sessions',
partitioning='hive')``) and Spark read a table's folder as it is and get a ``date`` column
from the path; the files themselves have no ``date`` column, and :meth:`Store.read` does
not add one.  Rows without a ``ts`` go to ``date=__HIVE_DEFAULT_PARTITION__`` (read as
null); ``rejects`` has no ``ts`` and is partitioned by the day it was ingested.

A commit writes its Parquet files under hidden temporary names, renames them, and only then
replaces ``manifest.json`` (``os.replace`` is atomic on POSIX).  Readers of the manifest
read only the files it lists, so a run that dies half-way leaves what was stored before
intact; its stray files are removed by the next commit.

One writer at a time (``fcntl.flock`` on ``DATA/.lock``), and every commit re-reads the
manifest under that lock and changes only what its caller owns (``update`` edits the fresh
copy; ``replace`` names the tables the caller rewrites), so that a ``report`` that saves
``matches`` never undoes an ``ingest`` that committed meanwhile.  Reading takes no lock and
writes nothing: a read-only data directory can be reported on.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from logcorr import schema
from logcorr.errors import DataError
from logcorr.sources import arrays

if TYPE_CHECKING:
    import pyarrow.dataset as ds

MANIFEST = "manifest.json"
PART_ROWS = 400_000  # rows per Parquet file written by one commit
# A commit that its caller waits for splits tables of more rows than this in two files,
# encoded at once (one core per file): nothing else is running then (issue 11.5).
SPREAD_ROWS = 100_000
FORMAT = "logcorr-data"
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"  # what Hive, Spark, pyarrow and DuckDB read as null

Update = Callable[[dict[str, Any]], None]


def default_data_dir() -> Path:
    """``$LOGCORR_DATA`` when set, else ``./logcorr-data`` (SPEC §2)."""
    return Path(os.environ.get("LOGCORR_DATA") or "logcorr-data")


def os_error(path: Path, exc: OSError, doing: str) -> DataError:
    """One line for an OS error on the data directory: the path, what failed, what to do."""
    code = exc.errno
    if code is None:  # pyarrow's errors carry the errno in their text only
        m = re.search(r"\[errno (\d+)\]", str(exc))
        code = int(m.group(1)) if m else None
    what = os.strerror(code) if code else (exc.strerror or str(exc))
    hint = {
        errno.ENOSPC: "free some space or use another --data directory",
        errno.EDQUOT: "free some space or use another --data directory",
        errno.EROFS: "the file system is read-only: use another --data directory",
        errno.EACCES: "check its permissions or use another --data directory",
        errno.EPERM: "check its permissions or use another --data directory",
    }.get(code or 0, "check the data directory")
    return DataError(f"{path}: cannot {doing}: {what}; {hint} (data stored before is intact)")


def write_options(table_schema: pa.Schema) -> dict[str, Any]:
    """Parquet options per column kind: what costs encode time only where it pays.

    Timestamps and int64 columns (``ts``, ``line``, ``conn_id``) are nearly unique: a
    dictionary for them is built and thrown away.  They are nearly sorted instead (a log
    is written in time order, lines and connection numbers count up), so they are delta
    encoded (``DELTA_BINARY_PACKED``, which DuckDB, Spark and pyarrow read): a quarter
    less on disk than plain values, and zstd has less to compress (a sixth off the
    encoding time; issue 11.5).  Min/max statistics are kept for every column but
    strings: ``logcorr.period`` prunes files by ``ts``/``ts_wall``, and string statistics
    cost a comparison per value (a fifth of the encoding time) for nobody.
    """
    def numeric(t: pa.DataType) -> bool:
        return pa.types.is_timestamp(t) or pa.types.is_int64(t)

    return {"compression": "zstd",
            "use_dictionary": [f.name for f in table_schema if not numeric(f.type)],
            "column_encoding": {f.name: "DELTA_BINARY_PACKED" for f in table_schema if numeric(f.type)},
            "write_statistics": [f.name for f in table_schema if not pa.types.is_string(f.type)]}


def _write_parquet(job: tuple[pa.Table, Path]) -> None:
    """Write under a hidden temporary name, then rename: nobody sees half a file."""
    table, target = job
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name("." + target.name + ".tmp")
    pq.write_table(table, tmp, **write_options(table.schema))
    os.replace(tmp, target)


def partitions(name: str, table: pa.Table, today: str) -> list[tuple[str, pa.Table]]:
    """``(date=..., rows)`` for each UTC day of ``table`` (SPEC §4), days in order."""
    if "ts" not in table.column_names:
        return [(f"date={today}", table)]
    # Day numbers by arithmetic on the microseconds (strftime over every row cost a second
    # per million rows); only the distinct days are formatted.
    us = pc.cast(table.column("ts").cast(pa.int64()), pa.float64())
    # scalars as Arrow values: a Python number here makes pyarrow import pandas (arrays.py)
    days = pc.floor(pc.divide(us, arrays.column([float(_US_PER_DAY)], pa.float64())[0]))
    bounds = pc.min_max(days)
    if days.null_count == 0 and table.num_rows and bounds["min"] == bounds["max"]:
        return [(f"date={_day(bounds['min'].as_py())}", table)]
    out = []
    for day in sorted(pc.unique(days).to_pylist(), key=lambda d: (d is None, d or 0.0)):
        mask = pc.is_null(days) if day is None else pc.equal(days, arrays.column([day], pa.float64())[0])
        out.append((f"date={_day(day) if day is not None else NULL_PARTITION}", table.filter(mask)))
    return out


_US_PER_DAY = 86_400_000_000


def _day(number: float) -> str:
    """``YYYY-MM-DD`` of a day number since 1970-01-01 (UTC)."""
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=int(number))).strftime("%Y-%m-%d")


class Store:
    """A logcorr data directory."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._manifest: dict[str, Any] | None = None
        self._locked = False

    # -- manifest -------------------------------------------------------------------

    @property
    def manifest(self) -> dict[str, Any]:
        """The manifest as read once (a reader's snapshot); commits re-read it."""
        if self._manifest is None:
            self._manifest = self._load_manifest()
        return self._manifest

    def exists(self) -> bool:
        return (self.path / MANIFEST).is_file()

    def _load_manifest(self) -> dict[str, Any]:
        file = self.path / MANIFEST
        try:
            text = file.read_text()
        except FileNotFoundError:
            return {"format": FORMAT, "schema_version": schema.SCHEMA_VERSION, "commits": [],
                    "sources": [], "settings": {}}
        except OSError as exc:
            raise os_error(file, exc, "read the manifest") from exc
        try:
            manifest: dict[str, Any] = json.loads(text)
        except ValueError as exc:
            raise DataError(f"{file}: unreadable manifest ({exc}); re-run `logcorr ingest` into a new --data directory") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise DataError(f"{self.path} is not a logcorr data directory (no {FORMAT} manifest)")
        version = manifest.get("schema_version")
        if version != schema.SCHEMA_VERSION:
            raise DataError(
                f"{self.path} holds tables of schema version {version}, this logcorr reads "
                f"version {schema.SCHEMA_VERSION}: ingest the logs again into a new --data directory"
            )
        return manifest

    def require(self) -> None:
        """Raise a one-line, actionable error when there is nothing to read."""
        if not self.path.exists():
            raise DataError(f"no data directory at {self.path}: run `logcorr ingest PATH --data {self.path}` first")
        if not self.exists():
            raise DataError(f"{self.path} has no ingested data: run `logcorr ingest PATH --data {self.path}` first")
        self.manifest  # noqa: B018  (validates the version)

    # -- reading --------------------------------------------------------------------

    def files(self, table: str) -> list[Path]:
        out: list[Path] = []
        for commit in self.manifest["commits"]:
            out.extend(self.path / f for f in commit["files"].get(table, []))
        return out

    def read(self, table: str, columns: Sequence[str] | None = None,
             filter: ds.Expression | None = None) -> pa.Table:
        """The committed rows of ``table``, with only ``columns`` and rows matching ``filter``."""
        import pyarrow.dataset as ds  # imported here: ingest never reads, and it costs 0.2 s

        files = self.files(table)
        tschema = schema.TABLES[table]
        if not files:
            empty = tschema.empty_table()
            return empty.select(list(columns)) if columns else empty
        dataset = ds.dataset([str(f) for f in files], schema=tschema, format="parquet")
        return dataset.to_table(columns=list(columns) if columns else None, filter=filter)

    def count(self, table: str) -> int:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in self.files(table))

    # -- writing --------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, wait: bool | float = False) -> Iterator[None]:
        """Hold the one writer's lock (raises :class:`DataError` when another run has it).

        ``wait``: True waits as long as it takes; a number of seconds keeps trying that long
        (an ingest outwaits a report saving ``matches``, which holds the lock for a moment).
        """
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fh = open(self.path / ".lock", "a")  # noqa: SIM115  (closed below)
        except OSError as exc:
            raise os_error(self.path, exc, "write the data directory") from exc
        with fh:
            deadline = time.monotonic() + (0.0 if isinstance(wait, bool) else float(wait))
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX if wait is True else fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError as exc:
                    if time.monotonic() >= deadline:
                        raise DataError(f"{self.path} is being written by another logcorr run") from exc
                    time.sleep(0.05)
            self._locked = True
            try:
                yield
            finally:
                self._locked = False

    def commit(self, tables: dict[str, pa.Table], *, update: Update | None = None,
               replace: Sequence[str] = (), waited: bool = False) -> str:
        """Atomically add ``tables`` (appended) and replace the tables named in ``replace``.

        The manifest is re-read first; ``update(manifest)`` may then edit the parts the
        caller owns (its sources, its settings).  Must be called under :meth:`lock`.
        ``waited``: the caller does nothing else until the commit is done (the last one
        of an ingest), so a big table is split for both cores (:data:`SPREAD_ROWS`).
        An OS error (disk full, read-only) removes what this commit wrote and raises a
        one-line :class:`DataError`; what was committed before stays as it was.
        """
        assert self._locked, "Store.commit outside Store.lock"
        now = datetime.now(UTC)
        commit_id = now.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        manifest = self._load_manifest()
        written: dict[str, list[str]] = {}
        jobs: list[tuple[pa.Table, Path]] = []
        for name, table in tables.items():
            if table.num_rows == 0:
                continue
            table = schema.conform(name, table)
            i = 0
            for part, rows in partitions(name, table, now.strftime("%Y-%m-%d")):
                # Big tables go into several files, encoded in parallel (Parquet encoding is
                # single-threaded per file; this machine has two cores).
                pieces = max(1, -(-rows.num_rows // PART_ROWS), 2 if waited and rows.num_rows > SPREAD_ROWS else 1)
                step = -(-rows.num_rows // pieces)
                for k in range(pieces):
                    rel = f"{name}/{part}/{commit_id}-{i}.parquet"
                    i += 1
                    jobs.append((rows.slice(k * step, step) if pieces > 1 else rows, self.path / rel))
                    written.setdefault(name, []).append(rel)
        try:
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(_write_parquet, jobs))
            for name in schema.TABLES:  # every table has its folder (Spark's MSCK REPAIR needs the LOCATION)
                (self.path / name).mkdir(exist_ok=True)
            for name in replace:
                for commit in manifest["commits"]:
                    commit["files"].pop(name, None)
            manifest["commits"] = [c for c in manifest["commits"] if c["files"]]
            if written:
                manifest["commits"].append({"id": commit_id, "time": now.isoformat(), "files": written})
            if update is not None:
                update(manifest)
            tmp_manifest = self.path / ("." + MANIFEST + ".tmp")
            with open(tmp_manifest, "w") as fh:
                json.dump(manifest, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp_manifest, self.path / MANIFEST)
        except OSError as exc:
            self._manifest = None
            self._sweep(self._load_manifest())
            raise os_error(self.path, exc, "write the data directory") from exc
        self._manifest = manifest
        self._sweep(manifest)
        return commit_id

    def _sweep(self, manifest: dict[str, Any]) -> None:
        """Remove table files that ``manifest`` does not list (a crashed run's, replaced ones)."""
        listed = {os.path.normpath(self.path / f) for c in manifest["commits"]
                  for fs in c["files"].values() for f in fs}
        for name in schema.TABLES:
            folder = self.path / name
            if not folder.is_dir():
                continue
            for root, dirs, files in os.walk(folder, topdown=False):
                for f in files:
                    full = os.path.normpath(os.path.join(root, f))
                    if f.endswith((".parquet", ".tmp")) and full not in listed:
                        with contextlib.suppress(OSError):
                            os.unlink(full)
                for d in dirs:
                    with contextlib.suppress(OSError):
                        os.rmdir(os.path.join(root, d))  # only empty partitions go
        with contextlib.suppress(OSError):
            (self.path / ("." + MANIFEST + ".tmp")).unlink()

    def adopt(self, name: str, staging: Path) -> str | None:
        """Make the Parquet files another writer (Spark) left under ``staging`` table ``name``.

        They replace the table's files; ``staging``'s ``date=...`` folders are kept.  Returns
        ``None`` when saved, else one line saying why not (as :meth:`replace_table`).
        """
        try:
            with self.lock():
                commit_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
                rels: list[str] = []
                for i, f in enumerate(sorted(staging.rglob("*.parquet"))):
                    rel = str(Path(name) / f.parent.relative_to(staging) / f"{commit_id}-{i}.parquet")
                    (self.path / rel).parent.mkdir(parents=True, exist_ok=True)
                    os.replace(f, self.path / rel)  # unlisted until the commit: swept if it fails
                    rels.append(rel)

                def add(manifest: dict[str, Any]) -> None:
                    if rels:
                        manifest["commits"].append({"id": commit_id, "time": datetime.now(UTC).isoformat(),
                                                    "files": {name: rels}})

                self.commit({}, update=add, replace=[name])
        except OSError as exc:
            return f"{name} not saved: {os_error(self.path, exc, 'write the data directory')}"
        except DataError as exc:
            return f"{name} not saved: {exc}"
        return None

    def replace_table(self, name: str, table: pa.Table) -> str | None:
        """Replace table ``name`` (``report``'s ``matches``) if the directory can be written now.

        Returns ``None`` when saved, else one line saying why not (read-only, another run
        writing): the caller reports from what it read and says so.
        """
        try:
            with self.lock():
                self.commit({name: table}, replace=[name])
        except DataError as exc:
            return f"{name} not saved: {exc}"
        return None
