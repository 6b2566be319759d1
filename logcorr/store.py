"""The data directory: Parquet datasets, the manifest of ingested sources, atomic commits.

Layout::

    DATA/manifest.json              what is committed, and what each source file gave
    DATA/<table>/<commit>.parquet   one file per table per ingest run

A commit writes its Parquet files under temporary names, renames them, and only then
replaces ``manifest.json`` (``os.replace`` is atomic on POSIX).  Readers read only the
files the manifest lists, so a run that dies half-way leaves what was stored before
intact; its stray files are removed by the next commit.  One writer at a time
(``fcntl.flock`` on ``DATA/.lock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from logcorr import schema
from logcorr.errors import DataError

if TYPE_CHECKING:
    import pyarrow.dataset as ds

MANIFEST = "manifest.json"
PART_ROWS = 400_000  # rows per Parquet file written by one commit
FORMAT = "logcorr-data"


def _write_parquet(job: tuple[pa.Table, Path]) -> None:
    """Write under a temporary name, then rename: a reader never sees half a file."""
    table, target = job
    tmp = target.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, target)


def default_data_dir() -> Path:
    """``$LOGCORR_DATA`` when set, else ``./logcorr-data`` (SPEC §2)."""
    return Path(os.environ.get("LOGCORR_DATA") or "logcorr-data")


class Store:
    """A logcorr data directory."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._manifest: dict[str, Any] | None = None

    # -- manifest -------------------------------------------------------------------

    @property
    def manifest(self) -> dict[str, Any]:
        if self._manifest is None:
            self._manifest = self._load_manifest()
        return self._manifest

    def exists(self) -> bool:
        return (self.path / MANIFEST).is_file()

    def _load_manifest(self) -> dict[str, Any]:
        file = self.path / MANIFEST
        if not file.is_file():
            return {"format": FORMAT, "schema_version": schema.SCHEMA_VERSION, "commits": [],
                    "sources": [], "settings": {}}
        try:
            manifest: dict[str, Any] = json.loads(file.read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"{file}: unreadable manifest ({exc}); re-run `logcorr ingest` into a new --data directory") from exc
        if manifest.get("format") != FORMAT:
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
    def lock(self) -> Iterator[None]:
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise DataError(f"{self.path} is being written by another logcorr run") from exc
            yield

    def commit(self, tables: dict[str, pa.Table], *, sources: list[dict[str, Any]],
               settings: dict[str, Any] | None = None, replace: Sequence[str] = ()) -> str:
        """Atomically add ``tables`` (appended) and replace the tables named in ``replace``.

        ``sources`` replaces the manifest's source list; ``settings`` is merged into it.
        Must be called under :meth:`lock`.
        """
        commit_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        manifest = json.loads(json.dumps(self.manifest))  # a copy to edit
        written: dict[str, list[str]] = {}
        jobs: list[tuple[pa.Table, Path]] = []
        for name, table in tables.items():
            if table.num_rows == 0 and name not in replace:
                continue
            table = schema.conform(name, table)
            (self.path / name).mkdir(parents=True, exist_ok=True)
            # Big tables go into several files, encoded in parallel (Parquet encoding is
            # single-threaded per file; this machine has two cores).
            parts = max(1, -(-table.num_rows // PART_ROWS))
            step = -(-table.num_rows // parts) if table.num_rows else 0
            for i in range(parts):
                rel = f"{name}/{commit_id}-{i}.parquet"
                jobs.append((table.slice(i * step, step) if parts > 1 else table, self.path / rel))
                written.setdefault(name, []).append(rel)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(_write_parquet, jobs))
        for name in replace:
            for commit in manifest["commits"]:
                commit["files"].pop(name, None)
        manifest["commits"] = [c for c in manifest["commits"] if c["files"]]
        manifest["commits"].append({"id": commit_id, "time": datetime.now(UTC).isoformat(), "files": written})
        manifest["sources"] = sources
        manifest["settings"] = {**manifest.get("settings", {}), **(settings or {})}
        tmp_manifest = self.path / (MANIFEST + ".tmp")
        with open(tmp_manifest, "w") as fh:
            json.dump(manifest, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_manifest, self.path / MANIFEST)
        self._manifest = manifest
        self._sweep()
        return commit_id

    def adopt(self, name: str, staging: Path) -> str:
        """Commit the Parquet files another writer (Spark) left under ``staging`` as table ``name``.

        They replace the table's current files; ``staging``'s ``date=...`` folders are kept.
        """
        commit_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        rels: list[str] = []
        with self.lock():
            for i, f in enumerate(sorted(staging.rglob("*.parquet"))):
                sub = f.parent.relative_to(staging)
                rel = str(Path(name) / sub / f"{commit_id}-{i}.parquet")
                (self.path / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(f, self.path / rel)
                rels.append(rel)
            manifest = json.loads(json.dumps(self.manifest))
            for commit in manifest["commits"]:
                commit["files"].pop(name, None)
            manifest["commits"] = [c for c in manifest["commits"] if c["files"]]
            if rels:
                manifest["commits"].append({"id": commit_id, "time": datetime.now(UTC).isoformat(),
                                            "files": {name: rels}})
            self._write_manifest(manifest)
        return commit_id

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        tmp_manifest = self.path / (MANIFEST + ".tmp")
        with open(tmp_manifest, "w") as fh:
            json.dump(manifest, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_manifest, self.path / MANIFEST)
        self._manifest = manifest
        self._sweep()

    def _sweep(self) -> None:
        """Remove Parquet files that no committed manifest entry lists (a crashed run's)."""
        listed = {str(self.path / f) for c in self.manifest["commits"] for fs in c["files"].values() for f in fs}
        for name in schema.TABLES:
            folder = self.path / name
            if not folder.is_dir():
                continue
            for f in folder.rglob("*"):  # date=... folders too
                if f.suffix in (".parquet", ".tmp") and f.is_file() and str(f) not in listed:
                    with contextlib.suppress(OSError):
                        f.unlink()
