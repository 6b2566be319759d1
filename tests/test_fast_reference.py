"""The fast failure side against its pure pandas reference (issue 11.4, ``logcorr._reference``).

Each seeded case is a small random fleet built to hit every rule at once: copies of one
nginx line in two error logs (one ``failure_key``), a capture that sees the same failures
(capture merges, PROXY debug lines), a load balancer (``--lb-cidr`` and learned), scanner
bursts, health checks, ``--scanner``/``--ignore`` blocks, fallback chains, sessions exactly
at the window's ends, null clients and times, several hosts and a client that recovers on
another host, protocols below ``--min-protocol``, failed stream lines, repeated
``file:line``.  The fast functions must give the reference's frames exactly (values, dtypes,
order).  The tables go through Arrow and :func:`logcorr.api.to_pandas` as a report reads them.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from logcorr import _reference as ref
from logcorr import correlate as fast
from logcorr import schema
from logcorr.api import to_pandas
from logcorr.attribution import attribute_failures
from logcorr.classify import PROBE_MAX_SUITES, SCANNER_MIN_FAILURES
from logcorr.correlate import attribute, client_side_only, link_failures, mark_load_balancers
from logcorr.sequence import preceded_by
from logcorr.sources.pcaprows import NO_BYTES_ACTION

T0 = pd.Timestamp("2026-11-26T17:00:00Z").value // 1000  # µs
LB = "10.0.0.5"
LB_NETS = [ipaddress.ip_network("10.0.0.0/29")]
LEARNED = {"web-2": {"10.9.9.9"}}
SCANNER_NET, IGNORE_NET = "192.0.2.0/28", "203.0.113.0/28"
CLIENTS = ["198.51.100.1", "198.51.100.2", "198.51.100.3", "10.0.1.23", "2001:db8::7",
           "192.0.2.3", "203.0.113.9", LB, "10.9.9.9", "not-an-ip"]
REASONS = ["inappropriate_fallback", "peer_closed", "timeout", "unsupported_protocol",
           "no_shared_cipher", "no_shared_group", "plain_http", "other"]
TEXTS = ["inappropriate fallback", "client closed connection while SSL handshaking",
         "  recv() failed (104: Connection reset by peer) while SSL handshaking", 'broken header: ""',
         "wrong version number", None]
PROTOCOLS = ["TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1", "SSLv3", "QUIC", None]
HOSTS = ["web-1", "web-2", None]
SEEDS = 25


def _table(name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for col in ("ts", "ts_wall"):
        if col in frame:
            frame[col] = pd.to_datetime(frame[col], unit="us", utc=True)
    return to_pandas(schema.conform(name, pa.Table.from_pandas(frame, preserve_index=False)))


def _failures(rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i in range(n):
        host = HOSTS[rng.integers(len(HOSTS))]
        conn = int(rng.integers(1, n // 2 + 2))
        row = {"ts": T0 + int(rng.integers(0, 900)) * 1_000_000, "source": "nginx_error",
               "client_addr": CLIENTS[rng.integers(len(CLIENTS))], "reason": REASONS[rng.integers(len(REASONS))],
               "reason_text": TEXTS[rng.integers(len(TEXTS))], "conn_id": conn, "server_addr": "0.0.0.0:443",
               "file": f"{host or 'x'}/error.log", "line": i + 1, "level": "info", "host": host,
               "client_side": bool(rng.random() > 0.05), "ts_precision_s": 1.0, "client_is_real": None,
               "attribution": None, "lb_addr": None}
        roll = rng.random()
        if roll < 0.04:
            row["client_addr"] = None
        elif roll < 0.08:  # no time: cannot be placed (and no *N, which needs one)
            row.update(ts=None, conn_id=None)
        elif roll < 0.12:
            row.update(source="nginx_stream", ts_precision_s=None)
        elif roll < 0.16:
            row.update(file=None, line=None, conn_id=None)
        elif roll < 0.2:
            row.update(client_is_real=False, attribution="lb")
        elif roll < 0.24:
            row.update(source="aws_alb", conn_id=None, ts_precision_s=None, file="alb.log",
                       ts=row["ts"] + int(rng.integers(0, 999_999)))
        rows.append(row)
        if rng.random() < 0.15 and row["conn_id"] is not None:  # the same line in a second error log
            rows.append({**row, "file": f"{host or 'x'}/server.error.log", "line": int(rng.integers(1, 50))})
    if rows:  # a repeated file:line (two rotations of one log)
        rows.append({**rows[0], "ts": T0 + 5_000_000, "conn_id": None})
    return rows


def _scanner(rng: np.random.Generator, client: str, host: str | None) -> list[dict[str, Any]]:
    start = T0 + int(rng.integers(0, 600)) * 1_000_000
    return [{"ts": start + int(rng.integers(0, 40)) * 1_000_000, "source": "nginx_error", "client_addr": client,
             "reason": REASONS[k % 5], "reason_text": "x", "conn_id": 10_000 + k, "server_addr": "0.0.0.0:443",
             "file": "scan/error.log", "line": 1000 + k, "level": "info", "host": host, "client_side": True,
             "ts_precision_s": 1.0} for k in range(SCANNER_MIN_FAILURES + int(rng.integers(0, 6)))]


def _capture(rng: np.random.Generator, nginx: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Capture rows for some nginx lines through the load balancer (and a few of its own)."""
    out = []
    for k, row in enumerate(r for r in nginx if r["client_addr"] == LB and r["ts"] is not None):
        if rng.random() < 0.6:
            out.append({"ts": row["ts"] + int(rng.integers(0, 900_000)), "source": "pcap",
                        "client_addr": CLIENTS[rng.integers(3)], "lb_addr": LB, "reason": row["reason"],
                        "reason_text": None, "file": "cap.pcap", "line": k + 1, "host": row["host"],
                        "client_is_real": True, "attribution": "pcap_proxy_header", "client_side": True,
                        "action": NO_BYTES_ACTION if rng.random() < 0.3 else None})
    return out


def _sessions(rng: np.random.Generator, fails: list[dict[str, Any]], window_s: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    timed = [f for f in fails if f["ts"] is not None]
    for _ in range(len(fails) * 2):
        base = timed[rng.integers(len(timed))]
        second = base["ts"] - base["ts"] % 1_000_000
        at = [base["ts"], second, second - 1, base["ts"] + window_s * 1_000_000,
              base["ts"] + window_s * 1_000_000 + 1, base["ts"] - int(rng.integers(1, 12)) * 1_000_000,
              base["ts"] + int(rng.integers(1, window_s)) * 1_000_000][rng.integers(7)]
        row = {"ts": at, "source": "nginx_access", "client_addr": base["client_addr"],
               "ssl_protocol": PROTOCOLS[rng.integers(len(PROTOCOLS))], "ssl_cipher": "C" + str(rng.integers(3)),
               "file": f"{HOSTS[rng.integers(2)]}/access.log", "line": int(rng.integers(1, 40)), "is_connection": True,
               "host": HOSTS[rng.integers(len(HOSTS))], "status": 200}
        roll = rng.random()
        if roll < 0.05:
            row["client_addr"] = None
        elif roll < 0.1:
            row["ts"] = None
        elif roll < 0.2:
            row.update(source="nginx_stream", status=int(rng.choice([200, 400, 500])))
        rows.append(row)
        if rng.random() < 0.1:  # a second session at the same instant
            rows.append({**row, "ssl_protocol": PROTOCOLS[rng.integers(4)], "line": row["line"] + 1})
    return rows


def _hellos(rng: np.random.Generator, fails: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for f in fails:
        if f["ts"] is None or rng.random() > 0.3:
            continue
        for back in (0, int(rng.integers(0, 3_000_000))):
            one = rng.random() < 0.5
            rows.append({"ts": f["ts"] - back, "client_addr": f["client_addr"], "hello_version": "TLSv1.2",
                         "versions": ["TLSv1.3", "TLSv1.2"] if not one else [PROTOCOLS[rng.integers(5)]],
                         "cipher_suites": list(range(int(rng.integers(1, PROBE_MAX_SUITES + 3)))),
                         "outcome": ["reset", "closed", "incomplete", "alert"][rng.integers(4)]})
    return rows


@functools.cache
def case(seed: int) -> dict[str, Any]:
    """Failures (judged as the report judges them), sessions, hellos and settings (shared by
    the tests: every function under test copies what it changes)."""
    rng = np.random.default_rng(seed)
    window_s = int(rng.choice([5, 60, 300]))
    nginx = _failures(rng, int(rng.integers(20, 120)))
    nginx += _scanner(rng, "198.51.100.3", "web-1") + _scanner(rng, "2001:db8::7", "web-2")
    capture = _capture(rng, nginx)
    failures = _table("handshake_failures", nginx + capture)
    debug = [{"ts": r["ts"], "source": "nginx_error", "conn_id": r["conn_id"], "src_addr": "198.51.100.2",
              "host": r["host"]} for r in nginx if r["client_addr"] == LB and r["conn_id"] and rng.random() < 0.3]
    headers = _table("proxy_headers", debug)
    judged = attribute_failures(mark_load_balancers(failures, LB_NETS, LEARNED), headers)
    hellos = _table("client_hellos", _hellos(rng, nginx + capture)) if rng.random() < 0.7 else None
    return {"failures": judged, "sessions": _table("tls_sessions", _sessions(rng, nginx, window_s)),
            "hellos": hellos, "window_s": window_s,
            "min_protocol": str(rng.choice(["TLSv1.2", "TLSv1.2", "TLSv1.1", "TLSv1.3"]))}


def _correlate(module: Any, c: dict[str, Any]) -> pd.DataFrame:
    return module.correlate(c["failures"], c["sessions"], c["window_s"], c["min_protocol"],
                            lb_networks=LB_NETS, lb_addrs=LEARNED, hellos=c["hellos"],
                            scanner_cidrs=[SCANNER_NET], ignore_cidrs=[IGNORE_NET])


@pytest.mark.parametrize("seed", range(SEEDS))
def test_correlate_is_the_reference(seed: int) -> None:
    c = case(seed)
    pd.testing.assert_frame_equal(_correlate(fast, c), _correlate(ref, c))


@pytest.mark.parametrize("seed", range(SEEDS))
def test_attribute_and_link_failures_are_the_reference(seed: int) -> None:
    rows = client_side_only(case(seed)["failures"])
    attributed = attribute(rows, LB_NETS, LEARNED)
    pd.testing.assert_frame_equal(attributed, ref.attribute(rows, LB_NETS, LEARNED))
    pd.testing.assert_frame_equal(link_failures(attributed), ref.link_failures(attributed))


@pytest.mark.parametrize("seed", range(SEEDS))
def test_preceded_by_is_the_reference(seed: int) -> None:
    c = case(seed)
    m = _correlate(fast, c)
    pd.testing.assert_frame_equal(preceded_by(m, c["sessions"], c["hellos"]),
                                  ref.preceded_by(m, c["sessions"], c["hellos"]))


def test_the_cases_exercise_every_rule() -> None:
    """The seeds above are worth something only if their cases reach each rule."""
    seen: dict[str, int] = {}
    for seed in range(SEEDS):
        c = case(seed)
        m = _correlate(fast, c)
        one = m.drop_duplicates("failure_key")
        seq = preceded_by(m, c["sessions"], c["hellos"])
        checks = {
            "copies": (m["failure_key"] != m["failure_id"]).sum(),
            "capture_merge": (m["source"] == "pcap").sum() and (m["failure_key"] != m["failure_id"]).sum(),
            "lb_unattributable": (one["attribution"] == "unattributable_lb").sum(),
            "proxy_debug_line": (one["attribution"] == "proxy_debug_line").sum(),
            "scanner_burst": one["evidence"].fillna("").str.contains("within").sum(),
            "scanner_listed": (one["evidence"] == "listed with --scanner").sum(),
            "ignored": (one["class"] == "ignored").sum(),
            "health_check": (one["class"] == "health_check").sum(),
            "recovered": one["recovered"].fillna(False).sum(),
            "not_recovered": (~one["recovered"].fillna(True)).sum(),
            "no_client": one["client_addr"].isna().sum(),
            "no_time": one["ts"].isna().sum(),
            "repeat_id": m["failure_id"].str.contains("#").sum(),
            "by_time_id": m["failure_id"].str.contains("@").sum(),
            "after_failure": seq["preceded_by"].isin(REASONS).sum(),
            "after_success": (seq["preceded_by"] == "success").sum(),
            "first_attempt": seq["first_attempt_end"].notna().sum(),
            "zero_delay": (one["delay_s"] == 0.0).sum(),
            "delay_at_window": (one["delay_s"] == c["window_s"]).sum(),
        }
        for k, v in checks.items():
            seen[k] = seen.get(k, 0) + int(v)
    assert all(v > 0 for v in seen.values()), {k: v for k, v in seen.items() if not v}
