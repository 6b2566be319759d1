"""``logcorr ingest`` end to end through the library: accounting, rotation, re-runs, bad input.

Lines are the test host's (nginx 1.22.1 + OpenSSL 3.0.19, `nginx-logs.md` §8), with the
access log in the recommended format (`logcorr.sources.logformat.RECOMMENDED`).
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import logcorr
from logcorr import ingestread, inputs
from logcorr.sources.logformat import RECOMMENDED
from logcorr.store import Store

# nginx-logs.md §8 (test host), server 127.0.0.1:8443, TZ=Asia/Kolkata (+05:30)
ERROR_LINES = [
    "2026/11/26 23:02:50 [info] 13035#13035: *4 SSL_do_handshake() failed (SSL: error:0A000102:SSL routines::unsupported protocol) while SSL handshaking, client: 127.0.0.7, server: 127.0.0.1:8443",
    "2026/11/26 23:02:51 [info] 13035#13035: *6 SSL_do_handshake() failed (SSL: error:0A000175:SSL routines::inappropriate fallback) while SSL handshaking, client: 127.0.0.8, server: 127.0.0.1:8443",
    "2026/11/26 23:02:52 [info] 13035#13035: *7 client 127.0.0.8 closed keepalive connection",
]


def access_line(client: str, conn: int, msec: float, proto: str = "TLSv1.2",
                cipher: str = "ECDHE-RSA-AES128-GCM-SHA256", pp: str = "-", remote: str | None = None) -> str:
    """A line of the recommended format, rendered from values."""
    import re
    import time

    values = {
        "remote_addr": remote or client, "remote_user": "-", "realip_remote_addr": remote or client,
        "time_local": time.strftime("%d/%b/%Y:%H:%M:%S +0530", time.gmtime(msec + 19800)),
        "time_iso8601": time.strftime("%Y-%m-%dT%H:%M:%S+05:30", time.gmtime(msec + 19800)),
        "request": "GET / HTTP/1.1", "status": "200", "body_bytes_sent": "612", "http_referer": "-",
        "http_user_agent": "curl/8.5.0", "ssl_protocol": proto, "ssl_cipher": cipher,
        "ssl_server_name": "lab.test", "ssl_session_reused": ".", "proxy_protocol_addr": pp,
        "connection": str(conn), "connection_requests": "1", "msec": f"{msec:.3f}", "request_time": "0.000",
    }
    return re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), "-"), RECOMMENDED)


# 2026-11-26T17:32:51Z = 1795714371
ACCESS_LINES = [access_line("127.0.0.8", 8, 1795714371.400), access_line("127.0.0.9", 9, 1795714372.0)]


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    d = tmp_path / "nginx"
    d.mkdir()
    (d / "error.log").write_text("\n".join(ERROR_LINES) + "\n")
    (d / "access.log").write_text("\n".join(ACCESS_LINES) + "\n")
    return d


def test_ingest_directory_accounts_for_every_line(logdir: Path, tmp_path: Path) -> None:
    result = logcorr.ingest([str(logdir)], tmp_path / "data")
    by_name = {Path(f.path).name: f for f in result.files}
    assert by_name["error.log"].kind == "nginx_error"
    assert by_name["access.log"].kind == "nginx_access"
    for f in result.files:
        assert f.lines == f.parsed + f.skipped + f.rejected
    assert (by_name["error.log"].lines, by_name["error.log"].skipped) == (3, 1)
    ds = logcorr.open(tmp_path / "data")
    failures = ds.failures()
    assert failures["reason"].tolist() == ["unsupported_protocol", "inappropriate_fallback"]
    # The access log shows +05:30 only, so the error log's wall clock is placed in +05:30
    # at report time (the stored rows keep the wall clock and how their zone was chosen).
    assert ds.table("handshake_failures")["tz_source"].tolist() == ["machine", "machine"]
    assert ds.table("handshake_failures")["ts_wall"].tolist() == [
        pd.Timestamp("2026-11-26T23:02:50Z"), pd.Timestamp("2026-11-26T23:02:51Z")]
    assert failures["ts"].tolist() == [pd.Timestamp("2026-11-26T17:32:50Z"), pd.Timestamp("2026-11-26T17:32:51Z")]
    assert str(failures["ts"].dtype) == "datetime64[us, UTC]"
    sessions = ds.table("tls_sessions")
    assert sessions["client_addr"].tolist() == ["127.0.0.8", "127.0.0.9"]


def test_rerun_adds_nothing_and_grown_file_adds_only_new_lines(logdir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    logcorr.ingest([str(logdir)], data)
    again = logcorr.ingest([str(logdir)], data)
    assert {f.status for f in again.files} == {"unchanged"}
    assert logcorr.open(data).tables["handshake_failures"] == 2
    with open(logdir / "error.log", "a") as fh:
        fh.write(ERROR_LINES[0].replace("*4", "*40").replace("23:02:50", "23:03:50") + "\n")
    grown = logcorr.ingest([str(logdir)], data)
    err = next(f for f in grown.files if f.path.endswith("error.log"))
    assert (err.status, err.lines, err.parsed) == ("grown", 1, 1)
    failures = logcorr.open(data).table("handshake_failures")
    assert failures["conn_id"].tolist() == [4, 6, 40]
    assert failures["line"].tolist() == [1, 2, 4]  # line numbers continue across runs


def test_rotation_is_recognised_by_content(logdir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    logcorr.ingest([str(logdir)], data)
    # logrotate: mv error.log error.log.1; nginx -s reopen; later gzip error.log.1 -> .2.gz
    with open(logdir / "error.log", "a") as fh:  # written before the move
        fh.write(ERROR_LINES[1].replace("*6", "*60") + "\n")
    os.rename(logdir / "error.log", logdir / "error.log.1")
    (logdir / "error.log").write_text(ERROR_LINES[0].replace("*4", "*99") + "\n")
    logcorr.ingest([str(logdir)], data)
    with open(logdir / "error.log.1", "rb") as src, gzip.open(logdir / "error.log.2.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    (logdir / "error.log.1").unlink()
    third = logcorr.ingest([str(logdir)], data)
    assert {Path(f.path).name: f.status for f in third.files}["error.log.2.gz"] == "unchanged"
    conn = logcorr.open(data).table("handshake_failures")["conn_id"].tolist()
    assert sorted(conn) == [4, 6, 60, 99]


def test_bad_inputs_are_reported_and_the_rest_goes_on(logdir: Path, tmp_path: Path) -> None:
    (logdir / "garbage.bin").write_bytes(bytes(range(256)) * 20)
    (logdir / "notes.txt").write_text("hello\nworld\n")
    older = "".join(ERROR_LINES[1].replace("*6", f"*{n}").replace("23:02:51", "22:00:00") + "\n" for n in range(1000, 1400))
    good = gzip.compress(older.encode())
    (logdir / "error.log.3.gz").write_bytes(good[: len(good) // 2])  # truncated gzip
    result = logcorr.ingest([str(logdir)], tmp_path / "data")
    assert result.partial
    by_name = {Path(f.path).name: f for f in result.files}
    assert by_name["garbage.bin"].status == "error"
    assert "garbage.bin" in (by_name["garbage.bin"].error or "")
    assert by_name["notes.txt"].status == "error"
    assert "hello" in (by_name["notes.txt"].error or "")
    trunc = by_name["error.log.3.gz"]
    assert trunc.status == "error"
    assert "truncated" in (trunc.error or "")
    assert trunc.lines > 0
    assert trunc.lines == trunc.parsed + trunc.skipped + trunc.rejected
    assert by_name["error.log"].status == "new"


def test_a_failed_run_leaves_stored_data_intact(logdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    logcorr.ingest([str(logdir)], data)
    before = json.loads((data / "manifest.json").read_text())
    (logdir / "error.log").write_text("\n".join(ERROR_LINES) + "\n" + ERROR_LINES[0].replace("*4", "*5") + "\n")

    import pyarrow.parquet as pq

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", boom)
    with pytest.raises(logcorr.LogcorrError, match=r"data: cannot write the data directory: No space left on device; free some space"):
        logcorr.ingest([str(logdir)], data)
    monkeypatch.undo()
    assert json.loads((data / "manifest.json").read_text()) == before
    assert logcorr.open(data).tables["handshake_failures"] == 2
    logcorr.ingest([str(logdir)], data)  # and the next run picks up the new line
    assert logcorr.open(data).tables["handshake_failures"] == 3


def test_store_refuses_other_schema_versions(logdir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    logcorr.ingest([str(logdir)], data)
    manifest = json.loads((data / "manifest.json").read_text())
    manifest["schema_version"] = 0
    (data / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(logcorr.DataError, match="schema version 0"):
        Store(data).require()


def test_lb_cidr_makes_failures_unattributable(logdir: Path, tmp_path: Path) -> None:
    logcorr.ingest([str(logdir)], tmp_path / "data", lb_cidrs=["127.0.0.7/32"])
    ds = logcorr.open(tmp_path / "data")
    # Evidence only: the stored row keeps the address as logged; the report judges it.
    assert ds.table("handshake_failures")["client_addr"].tolist() == ["127.0.0.7", "127.0.0.8"]
    matches = ds.correlate()
    assert matches.set_index("client_addr")["attributable"].to_dict() == {"127.0.0.7": False, "127.0.0.8": True}


def test_load_balancers_are_learned_from_proxy_protocol_addr(tmp_path: Path) -> None:
    d = tmp_path / "logs"
    d.mkdir()
    (d / "access.log").write_text(access_line("198.51.100.7", 1, 1795714371.0, pp="198.51.100.7", remote="127.0.0.5") + "\n")
    (d / "error.log").write_text(ERROR_LINES[1].replace("127.0.0.8", "127.0.0.5") + "\n")
    logcorr.ingest([str(d)], tmp_path / "data")
    ds = logcorr.open(tmp_path / "data")
    assert ds.lb_addrs == ["127.0.0.5"]
    assert ds.correlate()["attributable"].tolist() == [False]


def test_nginx_conf_gives_formats_by_name_and_the_server_profile(tmp_path: Path) -> None:
    # A log_format with '|' separators (nginx-logs.md §8 test-host style), named in nginx.conf
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        "http {\n"
        "    log_format pipes '$remote_addr|$proxy_protocol_addr|$connection|$status|$ssl_protocol|'\n"
        "                     '$ssl_cipher|$msec|$request_time|\"$request\"';\n"
        "    ssl_protocols TLSv1.2 TLSv1.3;\n"
        "    ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384;\n"
        "    ssl_ecdh_curve X25519:prime256v1;\n"
        "}\n")
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "access.log").write_text(
        '127.0.0.1|-|1|200|TLSv1.3|TLS_AES_256_GCM_SHA384|1795714168.860|0.000|"GET / HTTP/1.1"\n')
    result = logcorr.ingest([str(logs)], tmp_path / "data", nginx_conf=str(conf), log_format="pipes")
    assert [f.parsed for f in result.files] == [1]
    ds = logcorr.open(tmp_path / "data")
    assert ds.table("tls_sessions")["ssl_protocol"].tolist() == ["TLSv1.3"]
    (profile,) = Store(tmp_path / "data").manifest["settings"]["server_profiles"].values()
    assert profile["protocols"] == ["TLSv1.2", "TLSv1.3"]
    assert sorted(profile["ciphers"]["TLSv1.2"]) == [0xC02F, 0xC030]
    assert set(profile["groups"]) == {29, 23}


class _ShortReads(io.BytesIO):
    """A stream that hands out at most ``most`` bytes a read, as a pipe or a slow disk may."""

    def __init__(self, data: bytes, most: int) -> None:
        super().__init__(data)
        self.most = most

    def read(self, n: int | None = -1) -> bytes:
        return super().read(self.most if n is None or n < 0 else min(n, self.most))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"bc", b"\n", b"\n\n", b"xyz" * 7]), max_size=60).map(b"".join),
       st.integers(1, 40), st.integers(1, 50), st.booleans())
def test_chunks_hand_out_every_byte_in_whole_lines(data: bytes, size: int, most: int, gz: bool) -> None:
    """inputs.chunks: the blocks put back together are the content; each block but the last
    ends with a newline, and each end offset is where it ends in the content."""
    stream: Any = gzip.GzipFile(fileobj=io.BytesIO(gzip.compress(data))) if gz else _ShortReads(data, most)
    blocks = list(inputs.chunks(stream, size=size))
    assert b"".join(b for b, _ in blocks) == data
    assert all(b.endswith(b"\n") for b, _ in blocks[:-1])
    assert all(b for b, _ in blocks)
    assert [end for _, end in blocks] == list(itertools.accumulate(len(b) for b, _ in blocks))


def test_a_line_longer_than_a_chunk_keeps_the_lines_after_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A line longer than ingest's chunk was cut at the chunk's size and every line after it
    was left out of the run (inputs.chunks stopped reading once the carried line filled a
    chunk).  Chunks made small here; the line shape is bench/startup.py's."""
    monkeypatch.setattr(ingestread, "CHUNK_BYTES", 1000)
    line = ("2026/12/02 04:00:00 [info] 1234#1234: *7 SSL_do_handshake() failed (SSL: error:0A000102:"
            "SSL routines::unsupported protocol) while SSL handshaking, client: 10.0.1.2, server: 0.0.0.0:443\n")
    log = tmp_path / "error.log"
    log.write_text(line * 3 + "2026/12/02 04:00:01 [info] 1234#1234: " + "x" * 3000 + "\n" + line * 5)
    result = logcorr.ingest([str(log)], tmp_path / "data", error_tz="UTC")
    f = result.files[0]
    assert (f.status, f.lines, f.parsed, f.skipped, f.rejected) == ("new", 9, 8, 1, 0)
    assert result.rows == {"handshake_failures": 8}
