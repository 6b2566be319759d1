"""Generated fleets: several nginx hosts behind one load balancer, with cross-host recoveries.

Two shapes, both deterministic for a seed:

- :func:`write_fleet_logs` writes ``ROOT/web-N/error.log`` and ``ROOT/web-N/access.log``
  (nginx 1.22 line shapes: the error-log ``SSL_do_handshake() failed`` line as in
  ``sample_logs/error.log``, the access log in ``logformat.RECOMMENDED``).  The load
  balancer preserves client addresses (an NLB with client IP preservation), so every
  address in the logs is the real client.  Clients fail on one host and come back on
  another (or the same) one a few seconds later, or never; some fail twice.
- :func:`fleet_tables` builds ``handshake_failures`` and ``tls_sessions`` rows directly
  (vectorised: 10M sessions in seconds) for the report-at-scale benchmark.

Usage: ``python tools/make_fleet.py OUT [--hosts 3] [--clients 300]`` writes the logs.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

T0 = 1795714168  # 2026-11-26T17:29:28Z
REASONS = {  # OpenSSL 3.x texts (reference/handshake-reasons.md) → what the reader makes of them
    "inappropriate_fallback": "error:0A000175:SSL routines::inappropriate fallback",
    "no_shared_cipher": "error:0A0000C1:SSL routines::no shared cipher",
    "unsupported_protocol": "error:0A000102:SSL routines::unsupported protocol",
    "client_rejected_cert": "error:0A000418:SSL routines::tlsv1 alert unknown ca:SSL alert number 48",
}
PROTOCOLS = {"TLSv1.3": "TLS_AES_256_GCM_SHA384", "TLSv1.2": "ECDHE-RSA-AES128-GCM-SHA256",
             "TLSv1.1": "ECDHE-RSA-AES128-SHA"}


def _access_line(template: str, variables: list[str], t: float, client: str, proto: str,
                 conn: int) -> str:
    values = {
        "remote_addr": client, "remote_user": "-", "realip_remote_addr": client,
        "time_local": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t)),
        "request": "GET /api/items HTTP/1.1", "status": "200", "body_bytes_sent": "512",
        "http_referer": "-", "http_user_agent": "okhttp/4.12.0", "ssl_protocol": proto,
        "ssl_cipher": PROTOCOLS[proto], "ssl_server_name": "api.example.com",
        "ssl_session_reused": ".", "proxy_protocol_addr": "-", "connection": str(conn),
        "connection_requests": "1", "msec": f"{t:.3f}", "request_time": "0.010",
    }
    return template.format(**{v: values.get(v, "-") for v in variables})


def write_fleet_logs(root: Path, hosts: int = 3, clients: int = 300, seed: int = 11) -> dict[str, Any]:
    """Write one error and one access log per host under ``root/web-N/``; what was played."""
    import re

    from logcorr.sources.logformat import RECOMMENDED

    rnd = random.Random(seed)
    variables = re.findall(r"\$\{?(\w+)\}?", RECOMMENDED)
    template = re.sub(r"\$\{?(\w+)\}?", lambda m: "{" + m.group(1) + "}",
                      RECOMMENDED.replace("{", "{{").replace("}", "}}"))
    errors: list[list[tuple[float, str]]] = [[] for _ in range(hosts)]
    access: list[list[tuple[float, str]]] = [[] for _ in range(hosts)]
    conn = [1000 * (h + 1) for h in range(hosts)]  # *N per host (one master each)
    played = {"failures": 0, "sessions": 0, "cross_host_recoveries": 0, "never_back": 0}

    def session(h: int, t: float, client: str, proto: str) -> None:
        conn[h] += 1
        access[h].append((t, _access_line(template, variables, t, client, proto, conn[h])))
        played["sessions"] += 1

    def failure(h: int, t: int, client: str, reason: str) -> None:
        conn[h] += 1
        stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(t))
        errors[h].append((t, f"{stamp} [info] 4242#4242: *{conn[h]} SSL_do_handshake() failed "
                             f"(SSL: {REASONS[reason]}) while SSL handshaking, client: {client}, "
                             "server: 0.0.0.0:443"))
        played["failures"] += 1

    for i in range(clients):
        client = f"198.51.{100 + i // 250}.{1 + i % 250}"
        t = T0 + rnd.randrange(0, 3600)
        kind = rnd.random()
        h = rnd.randrange(hosts)
        if kind < 0.55:  # plain, healthy traffic
            for _ in range(rnd.randrange(1, 4)):
                session(rnd.randrange(hosts), t + rnd.random() * 600, client, rnd.choice(["TLSv1.3", "TLSv1.2"]))
            continue
        reason = rnd.choice(list(REASONS))
        failure(h, t, client, reason)
        if rnd.random() < 0.2:
            failure(h, t + rnd.randrange(1, 30), client, reason)
        if kind < 0.85:  # back within seconds, usually on another instance
            back = rnd.randrange(hosts)
            played["cross_host_recoveries"] += back != h
            session(back, t + rnd.random() * 20, client, "TLSv1.2")
        elif kind < 0.92:  # back, but at a protocol below TLSv1.2, or too late
            session(rnd.randrange(hosts), t + 5 if rnd.random() < 0.5 else t + 900, client,
                    "TLSv1.1" if rnd.random() < 0.5 else "TLSv1.3")
        else:
            played["never_back"] += 1
    for h in range(hosts):
        d = root / f"web-{h + 1}"
        d.mkdir(parents=True, exist_ok=True)
        (d / "error.log").write_text("".join(line + "\n" for _, line in sorted(errors[h])))
        (d / "access.log").write_text("".join(line + "\n" for _, line in sorted(access[h])))
    return played


def fleet_tables(n_sessions: int, n_failures: int, hosts: int = 3, clients: int | None = None,
                 seed: int = 5, hours: int | None = None) -> dict[str, Any]:
    """``handshake_failures`` and ``tls_sessions`` as Arrow tables, built with numpy.

    ``hours`` long (default: one hour per million sessions); ``clients`` (default: one per
    20 sessions) addresses; every failing client has sessions around its failures, so the
    join does real work.  With the default period a client's sessions are further apart
    the more there are (fewer failures recover within a window); with ``hours`` fixed,
    more sessions are more clients at the same rate each (the same traffic, a larger fleet).
    """
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    n_clients = clients or max(10, n_sessions // 20)
    span_us = (hours if hours is not None else max(1, n_sessions // 1_000_000)) * 3_600_000_000
    start_us = T0 * 1_000_000
    addr = np.array([f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}" for i in range(n_clients)], dtype=object)
    s_client = rng.integers(0, n_clients, n_sessions)
    s_ts = start_us + np.sort(rng.integers(0, span_us, n_sessions))
    protos = np.array(["TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1"], dtype=object)
    s_proto = protos[rng.choice(4, n_sessions, p=[0.6, 0.35, 0.03, 0.02])]
    ciphers = np.array([PROTOCOLS.get(p, "ECDHE-RSA-AES128-SHA") for p in protos], dtype=object)
    s_host = rng.integers(0, hosts, n_sessions)
    host_names = np.array([f"web-{h + 1}" for h in range(hosts)], dtype=object)
    sessions = pa.table({
        "ts": pa.array(s_ts, pa.timestamp("us", tz="UTC")),
        "source": pa.array(np.full(n_sessions, "nginx_access", dtype=object), pa.string()),
        "client_addr": pa.DictionaryArray.from_arrays(s_client.astype(np.int32), addr).cast(pa.string()),
        "ssl_protocol": pa.array(s_proto, pa.string()),
        "ssl_cipher": pa.array(ciphers[rng.choice(4, n_sessions, p=[0.6, 0.35, 0.03, 0.02])], pa.string()),
        "conn_id": pa.array(np.arange(n_sessions, dtype=np.int64)),
        "file": pa.array(host_names[s_host] + "/access.log", pa.string()),
        "line": pa.array(np.arange(1, n_sessions + 1, dtype=np.int64)),
        "is_connection": pa.array(np.ones(n_sessions, dtype=bool)),
    })
    f_client = rng.integers(0, n_clients, n_failures)
    f_ts = (start_us + rng.integers(0, span_us, n_failures)) // 1_000_000 * 1_000_000  # whole seconds
    codes = np.array(list(REASONS), dtype=object)
    texts = np.array(list(REASONS.values()), dtype=object)
    r_idx = rng.integers(0, len(codes), n_failures)
    f_host = rng.integers(0, hosts, n_failures)
    failures = pa.table({
        "ts": pa.array(f_ts, pa.timestamp("us", tz="UTC")),
        "source": pa.array(np.full(n_failures, "nginx_error", dtype=object), pa.string()),
        "client_addr": pa.DictionaryArray.from_arrays(f_client.astype(np.int32), addr).cast(pa.string()),
        "client_is_real": pa.array(np.ones(n_failures, dtype=bool)),
        "reason": pa.array(codes[r_idx], pa.string()),
        "reason_text": pa.array(texts[r_idx], pa.string()),
        "conn_id": pa.array(n_sessions + np.arange(n_failures, dtype=np.int64)),
        "server_addr": pa.array(np.full(n_failures, "0.0.0.0:443", dtype=object), pa.string()),
        "file": pa.array(host_names[f_host] + "/error.log", pa.string()),
        "line": pa.array(np.arange(1, n_failures + 1, dtype=np.int64)),
        "level": pa.array(np.full(n_failures, "info", dtype=object), pa.string()),
        "client_side": pa.array(np.ones(n_failures, dtype=bool)),
        "ts_precision_s": pa.array(np.ones(n_failures, dtype=np.float32)),
    })
    return {"handshake_failures": failures, "tls_sessions": sessions}


def write_fleet_store(data: Path, n_sessions: int, n_failures: int, hosts: int = 3, seed: int = 5,
                      hours: int | None = None) -> None:
    """A data directory holding :func:`fleet_tables` (as if ingested)."""
    from logcorr.store import Store

    store = Store(data)
    with store.lock():
        store.commit(fleet_tables(n_sessions, n_failures, hosts, seed=seed, hours=hours))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--hosts", type=int, default=3)
    ap.add_argument("--clients", type=int, default=300)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    print(write_fleet_logs(args.out, args.hosts, args.clients, args.seed))


if __name__ == "__main__":
    main()
