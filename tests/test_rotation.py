"""Nothing lost, nothing twice: a live writer under each rotation scheme, ingests running.

A writer thread appends access-log lines (each with its own ``$connection`` number) while
the log is rotated by real ``logrotate`` (Debian's, with a config in the test's tmp dir)
or by hand, and ``ingest`` runs between rotations.  At the end the stored ``tls_sessions``
must hold each line the writer wrote exactly once (compared with the writer's own record),
with no rejects.  Two writers: one that writes each line with one ``write()`` (nginx), one
that writes 4 KiB blocks cut anywhere (a program with stdio buffering), so that ingest sees
half-written last lines.

``copytruncate`` loses or splits what is written between the copy and the truncation
(logrotate(8) says so); ``compress`` without ``delaycompress`` loses what the program
writes into the renamed file before it reopens.  For those two moments the writer pauses
(at a line end), as a program would behind a synchronous postrotate, so that any loss
the test sees is logcorr's.
"""

from __future__ import annotations

import collections
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import logcorr
from tests.test_ingest import access_line

HEADER = 30  # identical first lines (about 10 KiB) where a scheme calls for one head
# Rotations per test: 3 in `make test` (the suite stays under half a minute); `make fuzz`
# soaks with more.
CYCLES = int(os.environ.get("LOGCORR_ROTATION_CYCLES", "3"))


class Writer(threading.Thread):
    """Appends lines to ``path`` until stopped; ``written`` is its record of ``$connection`` numbers."""

    def __init__(self, path: Path, chunked: bool, first: int, header: bool = False) -> None:
        super().__init__(daemon=True)
        self.path, self.chunked, self.seq = path, chunked, first
        self.lock = threading.Lock()  # held for each write; a rotation may hold it
        self.written: list[int] = []
        self.buffer = b""
        self.stop = threading.Event()
        self.reopen_at: float | None = None
        self.fd = self._open()
        if header:
            self.write_header()

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def line(self, conn: int) -> bytes:
        return (access_line("127.0.0.9", conn, 1795714371.0 + conn / 1000) + "\n").encode()

    def write_header(self) -> None:
        for conn in range(1, HEADER + 1):
            self._emit(conn)

    def _emit(self, conn: int) -> None:
        data = self.line(conn)
        self.written.append(conn)
        if not self.chunked:
            os.write(self.fd, data)
            return
        self.buffer += data
        while len(self.buffer) >= 4096:
            os.write(self.fd, self.buffer[:4096])
            self.buffer = self.buffer[4096:]

    def flush(self) -> None:
        """Write out what is buffered (it ends at a line end), as fflush() would."""
        if self.buffer:
            os.write(self.fd, self.buffer)
            self.buffer = b""

    def reopen(self) -> None:
        self.flush()
        os.close(self.fd)
        self.fd = self._open()

    def run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                for _ in range(5):
                    self.seq += 1
                    self._emit(self.seq)
                if self.reopen_at is not None and time.monotonic() >= self.reopen_at:
                    self.reopen_at = None
                    self.reopen()
            time.sleep(0.004)

    def finish(self) -> None:
        self.stop.set()
        self.join(5)
        with self.lock:
            self.flush()
            os.close(self.fd)


def logrotate(tmp: Path, log: Path, directives: str) -> None:
    conf = tmp / "logrotate.conf"
    conf.write_text(f"{log} {{\n    rotate {min(CYCLES + 2, 20)}\n    missingok\n    {directives}\n}}\n")
    os.chmod(conf, 0o644)
    proc = subprocess.run(["logrotate", "-f", "-s", str(tmp / "logrotate.state"), str(conf)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr


def rotate_rename(tmp: Path, w: Writer) -> None:
    """mv access.log access.log.1 (older ones shifted); the program reopens a moment later."""
    for n in range(4, 0, -1):
        if (w.path.parent / f"access.log.{n}").exists():
            os.rename(w.path.parent / f"access.log.{n}", w.path.parent / f"access.log.{n + 1}")
    os.rename(w.path, w.path.parent / "access.log.1")
    w.reopen_at = time.monotonic() + 0.1


def rotate_create(tmp: Path, w: Writer) -> None:
    logrotate(tmp, w.path, "create")
    w.reopen_at = time.monotonic() + 0.1  # nginx -s reopen, from a postrotate script


def rotate_delaycompress(tmp: Path, w: Writer) -> None:
    logrotate(tmp, w.path, "create\n    compress\n    delaycompress")
    w.reopen_at = time.monotonic() + 0.1


def rotate_compress(tmp: Path, w: Writer) -> None:
    with w.lock:  # a synchronous postrotate: nothing goes into the renamed file once it is compressed
        w.flush()
        logrotate(tmp, w.path, "create\n    compress")
        w.reopen()


def rotate_copytruncate(tmp: Path, w: Writer) -> None:
    with w.lock:  # logrotate's own copy-then-truncate race is not ours to test
        w.flush()
        logrotate(tmp, w.path, "copytruncate")


def rotate_copy(tmp: Path, w: Writer) -> None:
    logrotate(tmp, w.path, "copy")  # the original is left as it is and keeps growing


def rotate_copy_compress(tmp: Path, w: Writer) -> None:
    logrotate(tmp, w.path, "copy\n    compress")  # gzip'd snapshots of a file that keeps growing


SCHEMES: dict[str, Callable[[Path, Writer], None]] = {
    "rename": rotate_rename, "create": rotate_create, "delaycompress": rotate_delaycompress,
    "compress": rotate_compress, "copytruncate": rotate_copytruncate, "copy": rotate_copy,
    "copy-compress": rotate_copy_compress,
}


def stored(data: Path) -> tuple[collections.Counter[int], int]:
    ds = logcorr.open(data)
    conns = ds.table("tls_sessions", ["conn_id"])["conn_id"].astype(int).tolist()
    return collections.Counter(conns), ds.tables["rejects"]


def check(data: Path, writers: list[Writer]) -> None:
    got, rejects = stored(data)
    want = collections.Counter(c for w in writers for c in w.written)
    dup = sum(n - want[c] for c, n in got.items() if n > want[c])
    lost = sum(n - got[c] for c, n in want.items() if n > got[c])
    assert (dup, lost, rejects) == (0, 0, 0), f"duplicated {dup}, lost {lost}, rejects {rejects} of {sum(want.values())}"


def ingest_quietly(logs: Path, data: Path) -> logcorr.IngestResult:
    result = logcorr.ingest([str(logs)], data)
    errors = [f.error for f in result.files if f.error]
    assert not errors, errors
    return result


@pytest.mark.parametrize("chunked", [False, True], ids=["lines", "4k-chunks"])
@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_live_writer_under_rotation_is_ingested_exactly_once(scheme: str, chunked: bool, tmp_path: Path) -> None:
    logs, data = tmp_path / "logs", tmp_path / "data"
    logs.mkdir()
    w = Writer(logs / "access.log", chunked, first=1000)
    w.start()
    try:
        for _ in range(CYCLES):
            time.sleep(0.15)
            ingest_quietly(logs, data)
            time.sleep(0.1)
            SCHEMES[scheme](tmp_path, w)
            time.sleep(0.05)
            ingest_quietly(logs, data)
    finally:
        w.finish()
    ingest_quietly(logs, data)
    check(data, [w])
    again = ingest_quietly(logs, data)
    assert sum(f.lines for f in again.files) == 0
    if scheme in ("compress", "delaycompress", "copy-compress"):
        assert any(p.suffix == ".gz" for p in logs.iterdir())


@pytest.mark.parametrize("chunked", [False, True], ids=["lines", "4k-chunks"])
def test_truncated_and_regrown_with_the_same_first_lines_is_a_new_file(chunked: bool, tmp_path: Path) -> None:
    logs, data = tmp_path / "logs", tmp_path / "data"
    logs.mkdir()
    w = Writer(logs / "access.log", chunked, first=1000, header=True)
    w.start()
    try:
        for _ in range(CYCLES):
            time.sleep(0.2)
            ingest_quietly(logs, data)
            with w.lock:  # everything written so far is read, then the file starts over
                w.flush()
                ingest_quietly(logs, data)
                os.truncate(w.path, 0)
                w.write_header()
            time.sleep(0.1)
            ingest_quietly(logs, data)
    finally:
        w.finish()
    ingest_quietly(logs, data)
    check(data, [w])


@pytest.mark.parametrize("chunked", [False, True], ids=["lines", "4k-chunks"])
def test_two_files_with_one_head_are_two_sources(chunked: bool, tmp_path: Path) -> None:
    logs, data = tmp_path / "logs", tmp_path / "data"
    logs.mkdir()
    a = Writer(logs / "a.access.log", chunked, first=100_000, header=True)
    b = Writer(logs / "b.access.log", chunked, first=200_000, header=True)
    a.start()
    b.start()
    try:
        for _ in range(CYCLES + 1):
            time.sleep(0.15)
            ingest_quietly(logs, data)
    finally:
        a.finish()
        b.finish()
    ingest_quietly(logs, data)
    check(data, [a, b])
