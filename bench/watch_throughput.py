"""``logcorr watch`` under sustained load: ingest lag and RSS at N lines/s (default 10k).

A writer appends nginx access lines (the recommended log_format, tests/lab/nginx.py) and
a trickle of handshake-failure lines (nginx 1.22.1 + OpenSSL 3.0 shape, as in
sample_logs/error.log) with *current* timestamps, in batches every 100 ms, while
``logcorr watch --json`` runs as a child process over the directory.  Each round's JSON
line gives the ingest lag (now − newest event ingested) and the round's duration; the
child's RSS is sampled from /proc after each round.  Results go to
bench/results/watch.json and a summary is printed.

    python bench/watch_throughput.py --rate 10000 --seconds 120 --last 5m --every 10s

Machines here are shared and noisy: read the figures with the load in mind (the JSON
records os.getloadavg() at the start and the end).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"


def access_line(t: float, conn: int, client: str) -> str:
    local = datetime.fromtimestamp(t, UTC).astimezone().strftime("%d/%b/%Y:%H:%M:%S %z")
    return (f'{client} - - [{local}] "GET /api/v1/items HTTP/1.1" 200 512 "-" "bench/1" TLSv1.3 '
            f'TLS_AES_256_GCM_SHA384 "bench.test" . - {client} {conn} 1 {t:.3f} 0.001\n')


def error_line(t: float, conn: int, client: str) -> str:
    wall = datetime.fromtimestamp(t, UTC).astimezone().strftime("%Y/%m/%d %H:%M:%S")
    return (f"{wall} [info] 4242#4242: *{conn} SSL_do_handshake() failed (SSL: error:0A000175:SSL "
            f"routines::inappropriate fallback) while SSL handshaking, client: {client}, "
            "server: 0.0.0.0:443\n")


def writer(logs: Path, rate: int, seconds: float, stop: threading.Event, counts: dict[str, int]) -> None:
    """``rate`` lines/s in 10 batches a second; 1 line in 500 is a failure."""
    per_batch = max(1, rate // 10)
    conn = 1
    start = time.monotonic()
    with open(logs / "access.log", "a", encoding="ascii") as acc, \
            open(logs / "error.log", "a", encoding="ascii") as err:
        batch = 0
        while not stop.is_set() and time.monotonic() - start < seconds:
            now = time.time()
            lines, fails = [], []
            for i in range(per_batch):
                if (conn % 500) == 0:
                    fails.append(error_line(now, conn, f"10.9.{conn % 250}.{i % 250}"))
                else:
                    lines.append(access_line(now, conn, f"10.{i % 200}.{conn % 250}.{i % 250}"))
                conn += 1
            acc.write("".join(lines))
            acc.flush()
            err.write("".join(fails))
            err.flush()
            counts["access"] += len(lines)
            counts["error"] += len(fails)
            batch += 1
            time.sleep(max(0.0, start + batch / 10 - time.monotonic()))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=10_000, help="lines per second")
    ap.add_argument("--seconds", type=float, default=120.0, help="how long the writer runs")
    ap.add_argument("--every", default="10s")
    ap.add_argument("--last", default="5m")
    ap.add_argument("--window", default="5m")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="logcorr-bench-watch-"))
    logs, data = work / "logs", work / "data"
    logs.mkdir()
    (logs / "access.log").touch()
    (logs / "error.log").touch()
    out = work / "watch.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("LOGCORR_DATA", None)
    counts = {"access": 0, "error": 0}
    stop = threading.Event()
    load0 = os.getloadavg()
    with open(out, "wb") as fo:
        proc = subprocess.Popen([sys.executable, "-m", "logcorr", "watch", str(logs), "--data", str(data),
                                 "--json", "--every", args.every, "--last", args.last, "--window", args.window],
                                stdout=fo, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    samples: list[dict[str, float]] = []
    t = threading.Thread(target=writer, args=(logs, args.rate, args.seconds, stop, counts))
    t0 = time.monotonic()
    t.start()
    seen = 0
    try:
        while t.is_alive() or (time.monotonic() - t0 < args.seconds + 60 and seen and
                               samples and samples[-1]["lines_total"] < counts["access"] + counts["error"]):
            rows = [json.loads(x) for x in out.read_text().splitlines() if x.strip()]
            for r in rows[seen:]:
                w = r["watch"]
                samples.append({"t": round(time.monotonic() - t0, 2), "lag_s": w["ingest_lag_s"] or 0.0,
                                "round_s": w["duration_s"], "lines": w["lines_read"],
                                "lines_total": sum(s["lines"] for s in samples) + w["lines_read"],
                                "rss_mib": round(rss_kib(proc.pid) / 1024, 1)})
            seen = len(rows)
            time.sleep(0.5)
    finally:
        stop.set()
        t.join()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    load1 = os.getloadavg()
    steady = [s for s in samples if s["t"] > args.seconds / 3 and s["t"] <= args.seconds]
    result = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_start": load0,
                    "load_end": load1},
        "args": vars(args),
        "written": counts,
        "rounds": len(samples),
        "lag_s": {"median": statistics.median(s["lag_s"] for s in steady) if steady else None,
                  "max": max((s["lag_s"] for s in steady), default=None)},
        "round_s": {"median": statistics.median(s["round_s"] for s in steady) if steady else None},
        "rss_mib": {"first_third_end": steady[0]["rss_mib"] if steady else None,
                    "end": steady[-1]["rss_mib"] if steady else None,
                    "max": max((s["rss_mib"] for s in samples), default=None)},
        "samples": samples,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "watch.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=1))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
