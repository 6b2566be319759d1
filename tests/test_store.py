"""The data directory: commits that never undo each other, read-only reports, date partitions."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pytest

import logcorr
from logcorr.store import Store
from tests.test_ingest import ERROR_LINES, access_line


def write_access(path: Path, conns: range, day_s: float = 1795714371.0) -> None:
    with open(path, "a") as fh:
        for c in conns:
            fh.write(access_line("127.0.0.9", c, day_s + c) + "\n")


def write_errors(path: Path, conns: range) -> None:
    with open(path, "a") as fh:
        for c in conns:
            fh.write(ERROR_LINES[0].replace("*4", f"*{c}") + "\n")


def test_a_report_saving_matches_never_undoes_an_ingest(tmp_path: Path) -> None:
    logs, data = tmp_path / "logs", tmp_path / "data"
    logs.mkdir()
    write_access(logs / "access.log", range(1, 50))
    write_errors(logs / "error.log", range(1, 20))
    logcorr.ingest([str(logs)], data)
    stop = threading.Event()
    reports: list[int] = []
    notes: list[str] = []
    problems: list[BaseException] = []

    def report_loop() -> None:
        while not stop.is_set():
            try:
                rep = logcorr.open(data).report(window="5m")
                reports.append(1)
                notes.extend(rep.data.get("notes", []))
            except BaseException as exc:
                problems.append(exc)
                return

    thread = threading.Thread(target=report_loop)
    thread.start()
    try:
        for k in range(1, 9):
            write_access(logs / "access.log", range(50 * k, 50 * k + 50))
            write_errors(logs / "error.log", range(20 * k, 20 * k + 20))
            logcorr.ingest([str(logs)], data)
    finally:
        stop.set()
        thread.join(60)
    assert not problems, problems
    assert reports
    ds = logcorr.open(data)
    sessions = collections.Counter(ds.table("tls_sessions", ["conn_id"])["conn_id"].astype(int))
    failures = collections.Counter(ds.table("handshake_failures", ["conn_id"])["conn_id"].astype(int))
    assert sessions == collections.Counter(range(1, 450))
    assert failures == collections.Counter(range(1, 180))
    # A report that found the directory busy said so instead of waiting or failing.
    assert all(n.startswith("matches not saved: ") and "being written by another logcorr run" in n for n in notes)
    # Every file the manifest lists is there, and nothing else is.
    manifest = json.loads((data / "manifest.json").read_text())
    listed = {f for c in manifest["commits"] for fs in c["files"].values() for f in fs}
    on_disk = {str(p.relative_to(data)) for p in data.rglob("*.parquet")}
    assert listed == on_disk


def test_a_report_that_read_before_an_ingest_committed_keeps_the_ingest(tmp_path: Path) -> None:
    logs, data = tmp_path / "logs", tmp_path / "data"
    logs.mkdir()
    write_access(logs / "access.log", range(1, 10))
    write_errors(logs / "error.log", range(1, 4))
    logcorr.ingest([str(logs)], data)
    report_side = logcorr.open(data)
    assert report_side.tables["tls_sessions"] == 9  # the report has read the manifest
    write_access(logs / "access.log", range(10, 30))
    logcorr.ingest([str(logs)], data)  # an ingest commits meanwhile
    report_side.report()  # ... and the report then saves matches
    ds = logcorr.open(data)
    assert sorted(ds.table("tls_sessions", ["conn_id"])["conn_id"].astype(int)) == list(range(1, 30))
    assert ds.tables["matches"] == 3


def test_matches_are_saved_when_the_store_is_free_and_not_when_busy(tmp_path: Path) -> None:
    logs, data = tmp_path / "logs", tmp_path / "data"
    logs.mkdir()
    write_access(logs / "access.log", range(1, 5))
    write_errors(logs / "error.log", range(1, 4))
    logcorr.ingest([str(logs)], data)
    rep = logcorr.open(data).report()
    assert "notes" not in rep.data
    assert logcorr.open(data).tables["matches"] == 3
    with Store(data).lock():  # an ingest is writing
        rep = logcorr.open(data).report()
    assert rep.data["notes"] == [f"matches not saved: {data} is being written by another logcorr run"]
    assert rep.data["totals"]["handshake_failures"] == 3


@contextlib.contextmanager
def tmpfs(where: Path, size: str = "8m") -> Iterator[Path]:
    """A small file system of our own (root only); unmounted whatever happens."""
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _readonly_data(tmp_path: Path) -> Iterator[Path]:
    """An ingested data directory on a read-only file system (or, not as root, without w bits)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    write_access(logs / "access.log", range(1, 5))
    write_errors(logs / "error.log", range(1, 4))
    if os.geteuid() == 0:
        with tmpfs(tmp_path / "ro") as mnt:
            logcorr.ingest([str(logs)], mnt / "data")
            subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
            yield mnt / "data"
    else:
        data = tmp_path / "data"
        logcorr.ingest([str(logs)], data)
        for p in [data, *data.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
        yield data


readonly_data = pytest.fixture(_readonly_data)


def test_report_works_on_a_read_only_data_directory(readonly_data: Path) -> None:
    rep = logcorr.open(readonly_data).report()
    assert rep.data["totals"]["handshake_failures"] == 3
    (note,) = rep.data["notes"]
    assert note.startswith(f"matches not saved: {readonly_data}: cannot write the data directory: ")
    proc = subprocess.run([sys.executable, "-m", "logcorr", "report", "--data", str(readonly_data), "--format", "json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["totals"]["handshake_failures"] == 3
    assert proc.stderr.startswith("logcorr: matches not saved: ")
    assert proc.stderr.count("\n") == 1


def test_ingest_into_a_read_only_data_directory_is_one_line(readonly_data: Path, tmp_path: Path) -> None:
    before = (readonly_data / "manifest.json").read_text()
    proc = subprocess.run([sys.executable, "-m", "logcorr", "ingest", str(tmp_path / "logs"), "--data", str(readonly_data)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"logcorr: {readonly_data}: cannot write the data directory: ")
    assert "data stored before is intact" in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert (readonly_data / "manifest.json").read_text() == before


def test_tables_are_hive_partitioned_by_utc_day(tmp_path: Path) -> None:
    import duckdb

    logs, data = tmp_path / "logs", tmp_path / "data"
    logs.mkdir()
    # 2026-11-26T23:59:50Z and on, 20 s apart: the rows fall on two UTC days.
    write_access(logs / "access.log", range(40), day_s=1795737590.0 - 0.0)
    (logs / "junk.log").write_text("")
    logcorr.ingest([str(logs)], data)
    parts = sorted(str(p.relative_to(data).parent) for p in (data / "tls_sessions").rglob("*.parquet"))
    assert sorted(set(parts)) == ["tls_sessions/date=2026-11-26", "tls_sessions/date=2026-11-27"]
    ds = logcorr.open(data)
    assert "date" not in ds.table("tls_sessions").columns  # the library reads what the files hold
    by_day = duckdb.sql(
        f"select cast(date as varchar) d, count(*) n from read_parquet('{data}/tls_sessions/**/*.parquet', "
        "hive_partitioning=true) group by d order by d").fetchall()
    assert by_day == [("2026-11-26", 10), ("2026-11-27", 30)]
    table = pads.dataset(data / "tls_sessions", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 40
    assert collections.Counter(str(d) for d in table.column("date").to_pylist()) == {"2026-11-26": 10, "2026-11-27": 30}


def test_rows_without_a_time_go_to_the_null_partition(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = Store(data)
    failures = pa.table({"ts": pa.array([None, 1795714371_000000], pa.timestamp("us", tz="UTC")),
                         "client_addr": ["192.0.2.1", "192.0.2.2"]})
    with store.lock():
        store.commit({"handshake_failures": failures})
    folders = sorted(p.parent.name for p in (data / "handshake_failures").rglob("*.parquet"))
    assert folders == ["date=2026-11-26", "date=__HIVE_DEFAULT_PARTITION__"]
    table = pads.dataset(data / "handshake_failures", format="parquet", partitioning="hive").to_table()
    assert sorted(table.column("date").to_pylist(), key=str) == ["2026-11-26", None]
    assert Store(data).read("handshake_failures").num_rows == 2


def test_orphaned_parts_of_a_dead_run_are_swept(tmp_path: Path) -> None:
    logs, data = tmp_path / "logs", tmp_path / "data"
    logs.mkdir()
    write_access(logs / "access.log", range(1, 5))
    logcorr.ingest([str(logs)], data)
    orphan = data / "tls_sessions" / "date=2030-01-01" / "20300101T000000-dead-0.parquet"
    orphan.parent.mkdir()
    orphan.write_bytes(b"PAR1")
    half = data / "tls_sessions" / "date=2026-11-26" / ".x.parquet.tmp"
    half.write_bytes(b"PAR1")
    write_access(logs / "access.log", range(5, 9))
    logcorr.ingest([str(logs)], data)
    assert not orphan.exists()
    assert not orphan.parent.exists()
    assert not half.exists()
    assert logcorr.open(data).tables["tls_sessions"] == 8


def test_parquet_parts_keep_the_statistics_that_prune_by_time(tmp_path: Path) -> None:
    """``logcorr.period`` skips files by the min/max of ``ts``: those stay; strings have
    none (no reader prunes by them), and nearly unique columns no dictionary."""
    import pyarrow.parquet as pq

    logs, data = tmp_path / "logs", tmp_path / "data"
    logs.mkdir()
    write_access(logs / "access.log", range(1, 50))
    logcorr.ingest([str(logs)], data)
    (part,) = Store(data).files("tls_sessions")
    group = pq.ParquetFile(part).metadata.row_group(0)
    cols = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    assert cols["ts"].statistics.has_min_max
    assert cols["conn_id"].statistics.has_min_max
    assert cols["client_addr"].statistics is None or not cols["client_addr"].statistics.has_min_max
    assert "RLE_DICTIONARY" in str(cols["client_addr"].encodings)
    assert "RLE_DICTIONARY" not in str(cols["ts"].encodings)
    assert pq.read_table(part).schema.field("ts").type == pa.timestamp("us", tz="UTC")


def test_an_ingest_outwaits_a_short_save_and_not_a_long_one(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A report saving ``matches`` holds the writer's lock for a moment: an ingest waits for it
    (the race the report-loop test above hit now and then); a writer that keeps the lock
    longer than ``SAVE_PATIENCE_S`` is another run, and the ingest says so."""
    from logcorr import ingestion
    from logcorr.errors import DataError

    logs, data = tmp_path / "logs", tmp_path / "data"
    logs.mkdir()
    write_access(logs / "access.log", range(1, 10))
    held, release = threading.Event(), threading.Event()

    def hold(seconds: float) -> None:
        with Store(data).lock():
            held.set()
            release.wait(seconds)

    saver = threading.Thread(target=hold, args=(0.5,))
    saver.start()
    held.wait(10)
    logcorr.ingest([str(logs)], data)  # waited the half second out
    saver.join()
    assert logcorr.open(data).store.count("tls_sessions") == 9
    monkeypatch.setattr(ingestion, "SAVE_PATIENCE_S", 0.2)
    held.clear()
    writer = threading.Thread(target=hold, args=(30,))
    writer.start()
    held.wait(10)
    try:
        with pytest.raises(DataError, match="being written by another logcorr run"):
            logcorr.ingest([str(logs)], data)
    finally:
        release.set()
        writer.join()
