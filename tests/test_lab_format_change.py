"""A ``log_format`` change inside one access log, played by a real nginx (issue 10.2).

The lab nginx logs with the built-in ``combined`` format, is reloaded (``nginx -s reload``
with its ``-p``/``-c``) into the recommended format (``tests/lab/nginx.py::RECOMMENDED_FORMAT``,
defined as ``log_format lab``), then reloaded back to ``combined``; the access log is not
rotated.  Ingest must read every line with the format it was written in and reject none.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq

import logcorr
from tests.conftest import require_nginx
from tests.lab import clients, nginx

PHASES = (("combined", 3), ("lab", 4), ("combined", 2))  # access_log format, TLS requests


def _workers(master: int) -> set[int]:
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                out.add(int(entry.name))
    return out


def _reload(lab: nginx.Lab, conf: Path, fmt: str) -> None:
    """Point ``access_log`` at ``fmt``, ``nginx -s reload``, wait for the old workers to go."""
    text = conf.read_text()
    logs = lab.logs
    for name in ("lab", "combined"):
        text = text.replace(f"access_log {logs}/access.log {name};", f"access_log {logs}/access.log {fmt};")
    conf.write_text(text)
    old = _workers(lab.master_pid)
    binary = nginx.nginx_binary()
    assert binary is not None
    subprocess.run([binary, "-p", str(lab.prefix), "-c", str(conf), "-e", str(logs / "error.log"),
                    "-s", "reload"], check=True, capture_output=True,
                   env={"TZ": nginx.LAB_TZ, "PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = _workers(lab.master_pid)
        if now and not (now & old):
            return
        time.sleep(0.05)
    raise AssertionError("nginx workers were not replaced after the reload")


def test_reload_into_another_log_format_and_back(tmp_path: Path) -> None:
    require_nginx()
    prefix = tmp_path / "nginx"
    with nginx.running(prefix) as lab:
        conf = prefix / "conf" / "nginx.conf"
        outcomes = []
        for i, (fmt, n) in enumerate(PHASES):
            _reload(lab, conf, fmt)
            for _ in range(n):
                outcomes.append(clients.tls_session(lab.address("direct"), f"127.0.0.{10 + i}"))
    assert [o.saw for o in outcomes] == ["ok"] * sum(n for _, n in PHASES)
    access = prefix / "logs" / "access.log"
    logged = access.read_text().splitlines()
    assert len(logged) == 9

    result = logcorr.ingest([str(access)], tmp_path / "data", nginx_conf=str(conf))
    (f,) = result.files
    assert (f.lines, f.parsed, f.skipped, f.rejected) == (9, 9, 0, 0)
    # combined logs no $ssl_protocol: its lines are requests without TLS fields
    plain = pq.read_table(tmp_path / "data" / "plain_requests").to_pylist()
    assert sorted((p["line"], p["tls_logged"]) for p in plain) == [(i, False) for i in (1, 2, 3, 8, 9)]
    assert f.formats == [("combined", 1, 3), ("lab", 4, 7), ("combined", 8, 9)]
    sessions = pq.read_table(tmp_path / "data" / "tls_sessions").to_pylist()
    assert sorted((s["line"], s["client_addr"], s["ssl_protocol"]) for s in sessions) == [
        (4, "127.0.0.11", "TLSv1.3"), (5, "127.0.0.11", "TLSv1.3"),
        (6, "127.0.0.11", "TLSv1.3"), (7, "127.0.0.11", "TLSv1.3")]
    assert not (tmp_path / "data" / "rejects").exists() or \
        pq.read_table(tmp_path / "data" / "rejects").num_rows == 0


def test_reload_without_the_conf_uses_the_builtin_recommended_format(tmp_path: Path) -> None:
    """The same file without ``--nginx-conf``: the lab format is the built-in recommended one."""
    require_nginx()
    prefix = tmp_path / "nginx"
    with nginx.running(prefix) as lab:
        conf = prefix / "conf" / "nginx.conf"
        for i, (fmt, n) in enumerate(PHASES):
            _reload(lab, conf, fmt)
            for _ in range(n):
                assert clients.tls_session(lab.address("direct"), f"127.0.0.{10 + i}").saw == "ok"
    result = logcorr.ingest([str(prefix / "logs" / "access.log")], tmp_path / "data")
    (f,) = result.files
    assert f.formats == [("combined", 1, 3), ("recommended", 4, 7), ("combined", 8, 9)]
    assert f.rejected == 0
