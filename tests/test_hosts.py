"""Hosts (SPEC §2 ``--host``, §6 per-host keys; issue 11.1) and report-time load balancers.

Log lines are shaped like ``tests/test_ingest.py``'s (nginx 1.22.1 error-log grammar,
``nginx-logs.md`` §1; the project's recommended access-log format).
"""

from __future__ import annotations

import ipaddress
import random
import socket
from pathlib import Path

import pandas as pd
import pytest

import logcorr
from logcorr.correlate import AddressSet, is_lb
from logcorr.hosts import host_of, is_generic, layout_host
from tests.test_ingest import access_line

HOSTNAME = socket.gethostname().split(".")[0]


def error_line(clock: str, conn: int, client: str, text: str = "inappropriate fallback") -> str:
    return (f"2026/11/26 {clock} [info] 1#1: *{conn} SSL_do_handshake() failed (SSL: error:0A000175:"
            f"SSL routines::{text}) while SSL handshaking, client: {client}, server: 0.0.0.0:443")


@pytest.mark.parametrize(("rel", "root", "host"), [
    ("fleet/web-1/var/log/nginx/access.log", "fleet", "web-1"),  # issue 11.1's example
    ("logs/web-2/error.log", "logs", "web-2"),
    ("web-3/access.log", "web-3", "web-3"),  # logcorr ingest web-1/ web-2/ web-3/
    ("web-3/access.log", "web-3/access.log", "web-3"),  # a file counts as its folder
    ("var/log/nginx/access.log", "var/log/nginx", HOSTNAME),  # on the nginx host itself
    ("sample_logs/access.log", "sample_logs", HOSTNAME),
    ("logs/nginx/access.log", "logs", HOSTNAME),
])
def test_host_from_directory_layout(tmp_path: Path, rel: str, root: str, host: str) -> None:
    file = tmp_path / rel
    file.parent.mkdir(parents=True)
    file.write_text("x\n")
    assert host_of(file, [tmp_path / root], None) == host
    assert host_of(file, [tmp_path / root], "given") == "given"


def test_generic_names() -> None:
    assert [is_generic(n) for n in ("nginx", "sample_logs", "nginx-logs", "web-1", "blog", "logs2026")] == [
        True, True, True, False, False, True]
    assert layout_host(Path("/nonexistent/a/b.log"), Path("/nonexistent/a")) == "a"


def fleet(tmp_path: Path) -> Path:
    """web-1 refuses a fallback of 198.51.100.7 (*5); web-2 serves the client 2 s later and
    has its own *5 for another client in the same second."""
    root = tmp_path / "fleet"
    for host in ("web-1", "web-2"):
        (root / host).mkdir(parents=True)
    (root / "web-1" / "error.log").write_text(error_line("23:02:50", 5, "198.51.100.7") + "\n")
    (root / "web-1" / "access.log").write_text(access_line("10.9.9.9", 1, 1795714360.0) + "\n")
    (root / "web-2" / "error.log").write_text(error_line("23:02:50", 5, "198.51.100.8") + "\n")
    (root / "web-2" / "access.log").write_text(access_line("198.51.100.7", 3, 1795714372.0) + "\n")
    return root


def test_every_table_has_the_host_and_recovery_crosses_hosts(tmp_path: Path) -> None:
    logcorr.ingest([str(fleet(tmp_path))], tmp_path / "data")
    ds = logcorr.open(tmp_path / "data")
    failures = ds.table("handshake_failures")
    assert sorted(failures["host"]) == ["web-1", "web-2"]
    assert sorted(ds.table("tls_sessions")["host"]) == ["web-1", "web-2"]
    m = ds.correlate(window="30s").set_index("client_addr")
    # The same *N and second on two hosts are two failures (SPEC §6: *N is per host) ...
    assert len(m) == 2
    # ... and a client refused by web-1 and served by web-2 recovered.
    assert bool(m.loc["198.51.100.7", "recovered"]) is True
    assert bool(m.loc["198.51.100.8", "recovered"]) is False
    assert set(m["host"]) == {"web-1", "web-2"}


def test_learned_load_balancers_are_per_host(tmp_path: Path) -> None:
    root = tmp_path / "fleet"
    for host in ("web-1", "web-2"):
        (root / host).mkdir(parents=True)
    # web-1 is behind a PROXY-protocol LB at 10.0.0.5; web-2 has a real client at 10.0.0.5.
    (root / "web-1" / "access.log").write_text(
        access_line("198.51.100.7", 1, 1795714371.0, pp="198.51.100.7", remote="10.0.0.5") + "\n")
    (root / "web-1" / "error.log").write_text(error_line("23:02:50", 7, "10.0.0.5") + "\n")
    (root / "web-2" / "access.log").write_text(access_line("10.9.9.9", 1, 1795714371.0) + "\n")
    (root / "web-2" / "error.log").write_text(error_line("23:02:51", 7, "10.0.0.5") + "\n")
    logcorr.ingest([str(root)], tmp_path / "data")
    ds = logcorr.open(tmp_path / "data")
    assert ds.lb_addrs_by_host == {"web-1": {"10.0.0.5"}}
    m = ds.correlate().set_index("host")
    assert m["attributable"].to_dict() == {"web-1": False, "web-2": True}


def test_error_log_zone_comes_from_the_same_hosts_access_log(tmp_path: Path) -> None:
    """web-1's access log shows +0530, web-2's shows +0000: each error log is placed by its own."""
    root = tmp_path / "fleet"
    for host in ("web-1", "web-2"):
        (root / host).mkdir(parents=True)
    (root / "web-1" / "access.log").write_text(access_line("10.9.9.9", 1, 1795714371.0) + "\n")
    (root / "web-1" / "error.log").write_text(error_line("23:02:50", 1, "198.51.100.7") + "\n")
    utc = access_line("10.9.9.9", 1, 1795714371.0).replace("[26/Nov/2026:23:02:51 +0530]",
                                                              "[26/Nov/2026:17:32:51 +0000]")
    assert utc != access_line("10.9.9.9", 1, 1795714371.0)
    (root / "web-2" / "access.log").write_text(utc + "\n")
    (root / "web-2" / "error.log").write_text(error_line("17:32:50", 1, "198.51.100.8") + "\n")
    logcorr.ingest([str(root)], tmp_path / "data", error_tz=None)
    f = logcorr.open(tmp_path / "data").failures().set_index("host")["ts"]
    assert f.to_dict() == {"web-1": pd.Timestamp("2026-11-26T17:32:50Z"),
                           "web-2": pd.Timestamp("2026-11-26T17:32:50Z")}


def test_given_error_tz_is_kept(tmp_path: Path) -> None:
    d = tmp_path / "web-1"
    d.mkdir()
    (d / "error.log").write_text(error_line("23:02:50", 1, "198.51.100.7") + "\n")
    (d / "access.log").write_text(access_line("10.9.9.9", 1, 1795714371.0) + "\n")  # +0530
    logcorr.ingest([str(d)], tmp_path / "data", error_tz="+01:00")
    ds = logcorr.open(tmp_path / "data")
    assert ds.table("handshake_failures")["tz_source"].tolist() == ["given"]
    assert ds.failures()["ts"].tolist() == [pd.Timestamp("2026-11-26T22:02:50Z")]


def test_address_set_agrees_with_ipaddress() -> None:
    rng = random.Random(7)
    nets = [ipaddress.ip_network(f"10.{rng.randrange(256)}.{rng.randrange(256)}.0/{rng.choice([24, 28, 32])}",
                                 strict=False) for _ in range(992)]
    nets.append(ipaddress.ip_network("2001:db8::/48"))
    learned = ["192.0.2.7", "2001:db8:1::9", "not-an-address"]
    s = AddressSet(nets, learned)
    probes = [f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}" for _ in range(3000)]
    probes += ["192.0.2.7", "2001:db8::1", "2001:db8:1::9", "unix:", "", "[2001:db8::2]"]
    for p in probes:
        try:
            ip = ipaddress.ip_address(p.strip("[]"))
        except ValueError:
            want = False
        else:
            want = any(ip.version == n.version and ip in n for n in nets) or str(ip) in {"192.0.2.7", "2001:db8:1::9"}
        assert (p in s) is want, p


def test_is_lb_per_host_mapping() -> None:
    addr = pd.Series(["10.0.0.5", "10.0.0.5", "10.1.0.1", None])
    host = pd.Series(["web-1", "web-2", "web-2", "web-1"])
    got = is_lb(addr, ["10.1.0.0/16"], {"web-1": {"10.0.0.5"}}, host)
    assert got.tolist() == [True, False, True, False]
