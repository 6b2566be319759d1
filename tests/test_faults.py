"""Faults are one clear line: disk full, read-only, permissions, special files, odd files.

Disk full is a real small tmpfs (as root; the CI runs ``make test`` as root); permission
tests run the CLI, when the tests run as root, without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH
(``setpriv``), so that file modes apply to it.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import logcorr
from logcorr import ingestread, inputs
from tests.test_ingest import access_line
from tests.test_store import tmpfs, write_access

ROOT = os.geteuid() == 0


def cli(*args: str, unprivileged: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``logcorr``; ``unprivileged``: as root without the capabilities that bypass file modes."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "logcorr", *args]
    if unprivileged and ROOT:
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def stored_conns(data: Path) -> collections.Counter[int]:
    return collections.Counter(logcorr.open(data).table("tls_sessions", ["conn_id"])["conn_id"].astype(int))


def listed_equals_on_disk(data: Path) -> bool:
    manifest = json.loads((data / "manifest.json").read_text())
    listed = {f for c in manifest["commits"] for fs in c["files"].values() for f in fs}
    return listed == {str(p.relative_to(data)) for p in data.rglob("*.parquet")}


def noisy_access(path: Path, conns: range, seed: int = 7) -> None:
    """Lines that compress badly (random SNI and agent), so that Parquet files are big."""
    rnd = random.Random(seed)
    with open(path, "a") as fh:
        for c in conns:
            line = access_line("127.0.0.9", c, 1795714371.0 + c / 100)
            line = line.replace("lab.test", f"{rnd.getrandbits(128):032x}.test")
            fh.write(line.replace("curl/8.5.0", f"agent/{rnd.getrandbits(160):040x}") + "\n")


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A data directory on a 512 KiB file system (root), else one whose writes fail with ENOSPC."""
    if ROOT:
        with tmpfs(tmp_path / "disk", "512k") as mnt:
            yield mnt
    else:  # pragma: no cover - the CI runs as root
        import pyarrow.parquet as pq

        real = pq.write_table
        mnt = tmp_path / "disk"
        mnt.mkdir()

        def write(table: object, where: object, **kw: object) -> None:
            if table.num_rows > 10_000:  # type: ignore[attr-defined]
                raise OSError(28, "No space left on device")
            real(table, where, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(pq, "write_table", write)
        yield mnt


def test_disk_full_is_one_line_and_keeps_what_was_stored(small_disk: Path, tmp_path: Path) -> None:
    logs, data = tmp_path / "logs", small_disk / "data"
    logs.mkdir()
    noisy_access(logs / "access.log", range(1, 200))
    assert logcorr.ingest([str(logs)], data).rows["tls_sessions"] == 199
    before = (data / "manifest.json").read_text()
    noisy_access(logs / "access.log", range(200, 30_000))
    with pytest.raises(logcorr.LogcorrError) as err:
        logcorr.ingest([str(logs)], data)
    message = str(err.value)
    assert message == (f"{data}: cannot write the data directory: No space left on device; "
                       "free some space or use another --data directory (data stored before is intact)")
    # Whatever was committed is whole: the manifest lists exactly the files there are, and
    # each stored line is there once (bounded parts may have been committed before the fault).
    assert listed_equals_on_disk(data)
    assert not list(data.rglob("*.tmp"))
    got = stored_conns(data)
    assert set(got.values()) == {1}
    assert set(range(1, 200)) <= set(got)
    if ROOT:  # free space: the next run stores the rest, once
        subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
        logcorr.ingest([str(logs)], data)
        assert stored_conns(data) == collections.Counter(range(1, 30_000))
    else:  # pragma: no cover
        assert (data / "manifest.json").read_text() == before


@contextlib.contextmanager
def shared_tmp() -> Iterator[Path]:
    """A directory ``nobody`` can enter (pytest's tmp dirs are private to root)."""
    base = Path(tempfile.mkdtemp(prefix="logcorr-faults-", dir="/tmp"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_permission_denied_on_a_file_and_a_directory_is_one_line_each() -> None:
    with shared_tmp() as base:
        logs, data = base / "logs", base / "data"
        (logs / "private").mkdir(parents=True)
        data.mkdir()
        write_access(logs / "access.log", range(1, 6))
        write_access(logs / "secret.access.log", range(10, 16))
        write_access(logs / "private" / "access.log", range(20, 26))
        for p in (logs, logs / "private", logs / "access.log", logs / "secret.access.log", logs / "private" / "access.log"):
            p.chmod(0o755 if p.is_dir() else 0o644)
        (logs / "secret.access.log").chmod(0o000)
        (logs / "private").chmod(0o000)
        proc = cli("ingest", str(logs), "--data", str(data), "--quiet", unprivileged=True)
        (logs / "private").chmod(0o755)
        assert proc.returncode == 3, proc.stderr
        assert sorted(proc.stderr.splitlines()) == sorted([
            f"logcorr: {logs / 'private'}: cannot list directory: Permission denied; its files were not read (check its permissions)",
            f"logcorr: {logs / 'secret.access.log'}: cannot read: Permission denied",
        ])
        assert stored_conns(data) == collections.Counter(range(1, 6))
        # A data directory we may not write: one line, exit 1.
        data.chmod(0o555)
        write_access(logs / "access.log", range(6, 8))
        proc = cli("ingest", str(logs / "access.log"), "--data", str(data), "--quiet", unprivileged=True)
        assert proc.returncode == 1
        assert proc.stderr == (f"logcorr: {data}: cannot write the data directory: Permission denied; "
                               "check its permissions or use another --data directory (data stored before is intact)\n")


def test_special_files_are_reported_once_and_never_opened(tmp_path: Path) -> None:
    logs, data = tmp_path / "logs", tmp_path / "data"
    logs.mkdir()
    write_access(logs / "access.log", range(1, 4))
    os.mkfifo(logs / "pipe.log")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(logs / "sock.log"))
    try:
        t0 = time.monotonic()
        proc = cli("ingest", str(logs), str(logs / "pipe.log"), "/dev/zero", "--data", str(data), timeout=60)
        assert time.monotonic() - t0 < 60
    finally:
        sock.close()
    assert proc.returncode == 3, proc.stderr
    assert sorted(ln for ln in proc.stderr.splitlines() if ln.startswith("logcorr:")) == sorted([
        f"logcorr: {logs / 'pipe.log'}: not a regular file (a FIFO), not read",
        "logcorr: /dev/zero: not a regular file (a character device), not read",
    ])
    assert f"warning: {logs / 'sock.log'}: not a regular file (a socket), not read" in proc.stdout
    assert f"warning: {logs / 'pipe.log'}: not a regular file (a FIFO), not read" in proc.stdout
    assert stored_conns(data) == collections.Counter(range(1, 4))


def test_an_empty_just_rotated_log_is_not_an_error(tmp_path: Path) -> None:
    logs, data = tmp_path / "logs", tmp_path / "data"
    logs.mkdir()
    write_access(logs / "access.log.1", range(1, 4))
    (logs / "access.log").write_bytes(b"")
    result = logcorr.ingest([str(logs)], data)
    assert not result.partial
    assert {Path(f.path).name: f.status for f in result.files} == {"access.log.1": "new", "access.log": "empty"}
    write_access(logs / "access.log", range(4, 6))
    logcorr.ingest([str(logs)], data)
    assert stored_conns(data) == collections.Counter(range(1, 6))


def test_a_first_line_over_64_kib_does_not_make_a_file_not_a_log(tmp_path: Path) -> None:
    logs, data = tmp_path / "logs", tmp_path / "data"
    logs.mkdir()
    (logs / "access.log").write_bytes(b"x" * (100 << 10) + b"\n")
    write_access(logs / "access.log", range(1, 4))
    (f,) = logcorr.ingest([str(logs)], data).files
    assert (f.kind, f.status, f.lines, f.parsed, f.rejected) == ("nginx_access", "new", 4, 3, 1)
    rejects = logcorr.open(data).table("rejects")
    assert rejects["line"].tolist() == [1]


def test_a_half_written_last_line_waits_until_it_is_whole(tmp_path: Path) -> None:
    logs, data = tmp_path / "logs", tmp_path / "data"
    logs.mkdir()
    log = logs / "access.log"
    write_access(log, range(1, 4))
    whole = access_line("127.0.0.9", 4, 1795714375.0) + "\n"
    with open(log, "a") as fh:
        fh.write(whole[:100])  # the writer is in the middle of a line
    (f,) = logcorr.ingest([str(logs)], data).files
    assert (f.lines, f.parsed, f.rejected) == (3, 3, 0)
    with open(log, "a") as fh:
        fh.write(whole[100:])
    (f,) = logcorr.ingest([str(logs)], data).files
    assert (f.status, f.lines, f.parsed, f.rejected) == ("grown", 1, 1, 0)
    assert stored_conns(data) == collections.Counter(range(1, 5))
    assert logcorr.open(data).tables["rejects"] == 0


def test_an_unterminated_last_line_of_a_final_file_is_read(tmp_path: Path) -> None:
    logs, data = tmp_path / "logs", tmp_path / "data"
    logs.mkdir()
    log = logs / "access.log"
    write_access(log, range(1, 3))
    with open(log, "a") as fh:
        fh.write(access_line("127.0.0.9", 3, 1795714374.0))  # no newline, and nobody writes any more
    old = time.time() - ingestread.FINAL_AFTER_S - 5
    os.utime(log, (old, old))
    (f,) = logcorr.ingest([str(logs)], data).files
    assert (f.lines, f.parsed) == (3, 3)
    assert logcorr.ingest([str(logs)], data).files[0].status == "unchanged"
    assert stored_conns(data) == collections.Counter(range(1, 4))


def test_a_file_rotated_between_planning_and_reading_is_read_from_what_was_planned(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logs, data = tmp_path / "logs", tmp_path / "data"
    logs.mkdir()
    log = logs / "access.log"
    write_access(log, range(1, 20))
    logcorr.ingest([str(logs)], data)
    write_access(log, range(20, 40))
    real_detect = inputs.detect
    rotated = []

    def detect_then_rotate(*args: object, **kw: object) -> object:
        found = real_detect(*args, **kw)  # type: ignore[arg-type]
        if not rotated:  # logrotate strikes after the plan, before the read
            rotated.append(1)
            os.rename(log, logs / "access.log.1")
            write_access(log, range(100, 130))
        return found

    write_access(logs / "other.access.log", range(1000, 1002))  # a new file: its kind is decided
    monkeypatch.setattr(inputs, "detect", detect_then_rotate)
    logcorr.ingest([str(logs)], data)
    monkeypatch.undo()
    logcorr.ingest([str(logs)], data)
    want = collections.Counter([*range(1, 40), *range(100, 130), 1000, 1001])
    assert stored_conns(data) == want


def test_big_inputs_are_committed_in_bounded_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logs, data = tmp_path / "logs", tmp_path / "data"
    logs.mkdir()
    write_access(logs / "access.log", range(1, 3001))
    monkeypatch.setattr(ingestread, "COMMIT_ROWS", 400)
    monkeypatch.setattr(ingestread, "CHUNK_BYTES", 32 << 10)
    from logcorr.store import Store

    real_commit = Store.commit
    commits: list[int] = []

    def commit_then_die(self: Store, tables: dict[str, object], **kw: object) -> str:
        out = real_commit(self, tables, **kw)  # type: ignore[arg-type]
        commits.append(1)
        if len(commits) == 3:
            raise KeyboardInterrupt  # the run is killed after its third part
        return out

    monkeypatch.setattr(Store, "commit", commit_then_die)
    with pytest.raises(KeyboardInterrupt):
        logcorr.ingest([str(logs)], data)
    monkeypatch.undo()
    manifest = json.loads((data / "manifest.json").read_text())
    (src,) = manifest["sources"]
    got = stored_conns(data)
    assert len(manifest["commits"]) == 3
    assert got == collections.Counter(range(1, src["lines"] + 1))  # what is stored is what the offsets say
    assert 1000 <= src["lines"] < 3000
    logcorr.ingest([str(logs)], data)
    assert stored_conns(data) == collections.Counter(range(1, 3001))
