"""Fuzz targets: one function per reader, the ``log_format`` compiler, nginx.conf, whole-file ingest.

Each target takes bytes and raises only on a bug: a reader may turn input into rows,
``rejects`` or an :class:`~logcorr.errors.LogcorrError` (the whole file unusable), and its
line accounting must add up.  ``make fuzz`` runs them under atheris (tests/fuzz/run.py);
``make test`` replays tests/fuzz/crashes/ and a short seeded run (tests/test_fuzz.py).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

from logcorr.errors import LogcorrError
from logcorr.sources import Batch, Options

FORMATS = ["recommended", "combined", "json"]


def _lines(data: bytes) -> int:
    return data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)


def _check(batch: Batch, data: bytes | None = None) -> None:
    assert batch.lines == batch.parsed + batch.skipped + batch.rejected, (
        f"accounting: {batch.lines} != {batch.parsed}+{batch.skipped}+{batch.rejected}")
    if data is not None:
        assert batch.lines == _lines(data), f"{batch.lines} lines counted, {_lines(data)} given"
    rejects = batch.tables.get("rejects")
    if rejects is not None:
        assert rejects.num_rows == batch.rejected, "a rejected line without its rejects row"


def _feed(reader: object, data: bytes) -> Batch:
    """Feed in two chunks cut at a line boundary (as ingest does), then close."""
    total = Batch()
    cut = data.find(b"\n", len(data) // 2) + 1
    line = 1
    for part in (data[:cut], data[cut:]) if cut else (data,):
        if part:
            total.add(reader.feed(part, line))  # type: ignore[attr-defined]
            line += _lines(part)
    total.add(reader.close())  # type: ignore[attr-defined]
    return total


def errorlog(data: bytes) -> None:
    from logcorr.sources.errorlog import ErrorLogReader

    try:
        batch = _feed(ErrorLogReader("fuzz.log", Options(error_tz=UTC)), data)
    except LogcorrError:
        return
    _check(batch, data)


def accesslog(data: bytes) -> None:
    from logcorr.sources.accesslog import JSON_LINES, AccessLogReader
    from logcorr.sources.logformat import RECOMMENDED

    if not data:
        return
    fmt = [RECOMMENDED, "combined", JSON_LINES][data[0] % 3]
    try:
        from logcorr.sources.logformat import named_format

        reader = AccessLogReader("fuzz.log", Options(), fmt if fmt != "combined" else named_format("combined"))
        batch = _feed(reader, data[1:])
    except LogcorrError:
        return
    _check(batch, data[1:])


def elblogs(data: bytes) -> None:
    from logcorr.sources.elblogs import PARSERS, ElbLogReader

    if not data:
        return
    kind = sorted(PARSERS)[data[0] % len(PARSERS)]
    try:
        batch = _feed(ElbLogReader("fuzz.log", Options(), kind), data[1:])
    except LogcorrError:
        return
    _check(batch, data[1:])


def cloudwatch(data: bytes) -> None:
    from logcorr.sources.cloudwatch import CloudWatchReader

    try:
        batch = CloudWatchReader("fuzz.json", Options()).read(data)
    except LogcorrError:
        return
    _check(batch)


def pcap(data: bytes) -> None:
    from logcorr.sources.pcap import PcapReader

    try:
        batch = PcapReader("fuzz.pcap", Options()).read(io.BytesIO(data))
    except LogcorrError:
        return
    _check(batch)


def nmap(data: bytes) -> None:
    from logcorr.sources.nmap import read_nmap

    try:
        read_nmap(data, "fuzz.txt")
    except LogcorrError:
        return


def tls(data: bytes) -> None:
    from logcorr.sources import proxyproto
    from logcorr.sources import tls as t

    for hello_type in (1, 2):
        with contextlib.suppress(t.TlsError):
            t.RecordStream(hello_type).feed(data)
    for parse in (t.parse_client_hello, t.parse_server_hello):
        with contextlib.suppress(t.TlsError):
            parse(data)
    with contextlib.suppress(proxyproto.ProxyError):
        proxyproto.parse_header(data)


def logformat(data: bytes) -> None:
    """The first line is a log_format; the rest are lines read with it."""
    from logcorr.sources.accesslog import AccessLogReader
    from logcorr.sources.logformat import compile_format

    fmt, _, lines = data.partition(b"\n")
    text = fmt.decode("utf-8", "replace")
    try:
        compile_format(text)
        batch = _feed(AccessLogReader("fuzz.log", Options(), text), lines)
    except LogcorrError:
        return
    _check(batch, lines)


def nginxconf(data: bytes) -> None:
    from logcorr.sources import nginxconf as conf

    with tempfile.TemporaryDirectory(prefix="logcorr-fuzz-") as tmp:
        path = Path(tmp, "nginx.conf")
        path.write_bytes(data)
        for read in (conf.read_log_formats, conf.read_tls_profile, conf.read_access_logs):
            with contextlib.suppress(LogcorrError):
                read(str(path))


def ingest(data: bytes) -> None:
    """A whole file through ``ingest`` (its kind decided from content), twice: nothing twice."""
    import logcorr

    with tempfile.TemporaryDirectory(prefix="logcorr-fuzz-") as tmp:
        logs = Path(tmp, "logs")
        logs.mkdir()
        (logs / "input.log").write_bytes(data)
        os.utime(logs / "input.log", (0, 0))  # final: its last line counts
        first = logcorr.ingest([str(logs)], Path(tmp, "data"))
        for f in first.files:
            assert "internal error" not in (f.error or ""), f.error
            assert f.lines == f.parsed + f.skipped + f.rejected, f
        assert not [w for w in first.warnings if "does not add up" in w], first.warnings
        again = logcorr.ingest([str(logs)], Path(tmp, "data"))
        assert sum(f.lines for f in again.files) == 0, again.files


TARGETS: dict[str, Callable[[bytes], None]] = {
    "errorlog": errorlog, "accesslog": accesslog, "elblogs": elblogs, "cloudwatch": cloudwatch,
    "pcap": pcap, "nmap": nmap, "tls": tls, "logformat": logformat, "nginxconf": nginxconf, "ingest": ingest,
}
