"""No hangs, no blow-ups (issue 12.7) in the nginx.conf reader and the access-log tiers.

Each case ran for minutes (or forever) before the fix.  A case runs in a thread that must
finish within :data:`LIMIT` seconds: the bound says "does not hang", not how fast it is
(speed figures live in ``bench/``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from logcorr.errors import InputError
from logcorr.sources import Options
from logcorr.sources.accesslog import AccessLogReader
from logcorr.sources.logformat import compile_format
from logcorr.sources.nginxconf import MAX_DEPTH, directives, read_log_formats

LIMIT = 60.0


def bounded(fn: Callable[[], Any]) -> Any:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # re-raised in the test's thread
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(LIMIT)
    assert not t.is_alive(), f"still running after {LIMIT} s"
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_include_of_a_fifo_and_of_dev_zero_is_skipped(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.conf")
    conf = tmp_path / "nginx.conf"
    conf.write_text("include pipe.conf;\ninclude /dev/zero;\nlog_format x '$remote_addr $status';\n")
    notes: list[str] = []
    got = bounded(lambda: directives(str(conf), notes))
    assert [d.words[0] for d in got] == ["log_format"]
    assert notes == [f"{tmp_path / 'pipe.conf'}: include skipped: not a regular file",
                     "/dev/zero: include skipped: not a regular file"]


def test_nginx_conf_option_that_is_a_fifo_is_one_error(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "nginx.conf")
    with pytest.raises(InputError, match="not a regular file"):
        bounded(lambda: directives(str(tmp_path / "nginx.conf")))


@pytest.mark.parametrize("n", [8, 9, 12])
def test_glob_include_loop_reads_each_file_once(tmp_path: Path, n: int) -> None:
    """Every file includes ``*.conf``: 8 files took 17 s, 9 more than 120 s (n! paths)."""
    for i in range(n):
        (tmp_path / f"c{i}.conf").write_text(f"include {tmp_path}/*.conf;\nlog_format f{i} '$remote_addr {i}';\n")
    formats = bounded(lambda: read_log_formats(str(tmp_path / "c0.conf")))
    assert sorted(formats) == sorted(f"f{i}" for i in range(n))


def test_doubling_include_chain(tmp_path: Path) -> None:
    """Each file includes the next twice: 2**40 reads without the read-once rule."""
    for i in range(40):
        (tmp_path / f"d{i}.conf").write_text(f"include d{i + 1}.conf;\ninclude d{i + 1}.conf;\nssl_protocols TLSv1.{i % 4};\n")
    (tmp_path / "d40.conf").write_text("log_format last '$remote_addr';\n")
    got = bounded(lambda: directives(str(tmp_path / "d0.conf")))
    assert len(got) == 41


def test_deep_include_chain_is_one_error(tmp_path: Path) -> None:
    for i in range(MAX_DEPTH + 5):
        (tmp_path / f"n{i}.conf").write_text(f"include n{i + 1}.conf;\n")
    with pytest.raises(InputError, match=f"includes nested deeper than {MAX_DEPTH}"):
        bounded(lambda: directives(str(tmp_path / "n0.conf")))


def test_deeply_nested_blocks(tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text("http { " * 20000 + "log_format deep '$remote_addr';" + " }" * 20000 + "\n")
    assert list(bounded(lambda: read_log_formats(str(conf)))) == ["deep"]


# Five unquoted free-text variables (nginx-logs.md §6.2; upstream_* lists are "a, b"):
# one 615-byte line took 14 s in Python's backtracking re.
UPSTREAM = ("$remote_addr $upstream_addr $upstream_status $upstream_response_time "
            "$upstream_connect_time $upstream_header_time $status")


def test_unquoted_free_text_fields_are_linear_time() -> None:
    fmt = compile_format(UPSTREAM)
    good = "192.0.2.1 10.0.0.1:80, 10.0.0.2:80 502, 200 0.001, 0.002 0.000, 0.001 0.001, 0.002 200"
    bad = "192.0.2.1 " + "a, " * 200 + "x"  # 611 bytes, no status at the end
    data = "\n".join([good, bad] * 50).encode() + b"\n"
    batch = bounded(lambda: AccessLogReader("up.log", Options(), UPSTREAM).feed(data, 1))
    # no $ssl_protocol: the good lines are requests without TLS fields (plain_requests)
    assert (batch.lines, batch.parsed, batch.rejected) == (100, 50, 50)
    assert fmt.match(good) is not None
    assert bounded(lambda: fmt.diagnose(bad)).startswith("expected")


def test_one_megabyte_line() -> None:
    huge = "192.0.2.1 " + "a, " * 350_000 + "x"
    assert len(huge) > 1_000_000
    data = (huge + "\n" + huge + " 200\n").encode()
    batch = bounded(lambda: AccessLogReader("up.log", Options(), UPSTREAM).feed(data, 1))
    assert (batch.lines, batch.parsed, batch.rejected) == (2, 1, 1)
    assert batch.meta["format_runs"] == {(2, 2, "the file's first format")}
