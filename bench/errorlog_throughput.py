"""Error-log reader throughput: lines/s of ``ErrorLogReader`` against ``wc -l``.

Usage: ``python bench/errorlog_throughput.py [--lines N] [--failures 0.1] [--ingest] [--json]``.
Generates (cached in bench/data/) an error log in which ``--failures`` of the lines are
handshake failures (the mix of reasons and shapes of ``reference/nginx-logs.md`` §8) and
the rest are the lines a busy server writes beside them (keepalive closes, upstream
errors, ``SSL_read()``/``SSL_shutdown()`` failures, session-cache alerts: most of them
mention neither TLS nor a handshake), then feeds the file to the reader in the 8 MiB
chunks that ingest uses.  ``--ingest`` times the whole ``logcorr ingest`` process instead
(a fresh data directory each run; start-up, detection and the Parquet commit included),
with its CPU time and whether it loaded pandas.  ``bench/run.py`` runs the reader figure
and stores it in bench/results/results.json.  The machine is shared: compare with
``wc -l`` of the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

_FAILURES = [
    "SSL_do_handshake() failed (SSL: error:0A000175:SSL routines::inappropriate fallback) while SSL handshaking",
    "SSL_do_handshake() failed (SSL: error:0A0000C1:SSL routines::no shared cipher) while SSL handshaking",
    "SSL_do_handshake() failed (SSL: error:0A000102:SSL routines::unsupported protocol) while SSL handshaking",
    "SSL_do_handshake() failed (SSL: error:0A000418:SSL routines::tlsv1 alert unknown ca:SSL alert number 48) while SSL handshaking",
    "SSL_do_handshake() failed (SSL: error:14209102:SSL routines:tls_early_post_process_client_hello:unsupported protocol) while SSL handshaking",
    "peer closed connection in SSL handshake while SSL handshaking",
    "peer closed connection in SSL handshake (104: Connection reset by peer) while SSL handshaking",
    "client closed connection while SSL handshaking",
    "client timed out (110: Connection timed out) while SSL handshaking",
]
_OTHER_WITH_CONTEXT = [
    'upstream timed out (110: Connection timed out) while reading response header from upstream',
    'open() "/var/www/html/favicon.ico" failed (2: No such file or directory)',
    'SSL_read() failed (SSL: error:0A000126:SSL routines::unexpected eof while reading) while waiting for request',
    'SSL_shutdown() failed (SSL: error:0A000123:SSL routines::application data after close notify) while closing request',
    'could not allocate new session in SSL session shared cache "SSL" while SSL handshaking',
    'client sent no required SSL certificate while reading client request headers',
]


def gen_error_log(path: Path, n: int, failures: float = 0.1, seed: int = 11) -> None:
    """``n`` lines, ``failures`` of them handshake failures, one second per ~10 lines."""
    rnd = random.Random(seed)
    t = 1795714168
    clients = [f"198.51.{rnd.randrange(256)}.{rnd.randrange(1, 255)}" for _ in range(5000)]
    with open(path, "w") as fh:
        for i in range(1, n + 1):
            t += rnd.random() < 0.1
            ts = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(t))
            client = rnd.choice(clients)
            r = rnd.random()
            if r < failures:
                fh.write(f"{ts} [info] 1234#1234: *{i} {rnd.choice(_FAILURES)}, client: {client}, server: 0.0.0.0:443\n")
            elif r < failures + 0.05:
                level = rnd.choice(["error", "crit", "alert", "info"])
                fh.write(f'{ts} [{level}] 1234#1234: *{i} {rnd.choice(_OTHER_WITH_CONTEXT)}, client: {client}, '
                         f'server: example.com, request: "GET /item/{rnd.randrange(70000)} HTTP/1.1", host: "example.com"\n')
            else:
                fh.write(f"{ts} [info] 1234#1234: *{i} client {client} closed keepalive connection\n")


def data_file(lines: int, failures: float) -> Path:
    path = HERE / "data" / f"error-{lines}-{round(failures * 100)}pct.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        gen_error_log(path, lines, failures)
    return path


def measure(path: Path, repeat: int = 3) -> dict[str, float]:
    """Median wall time of reading ``path`` with the reader (8 MiB chunks), and of ``wc -l``."""
    from datetime import UTC

    from logcorr import inputs
    from logcorr.sources import Options
    from logcorr.sources.errorlog import ErrorLogReader

    walls, cpus, wcs = [], [], []
    lines = failures = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(["wc", "-l", str(path)], check=True, stdout=subprocess.DEVNULL)
        wcs.append(time.perf_counter() - t0)
        reader = ErrorLogReader(str(path), Options(error_tz=UTC))
        lines = failures = 0
        t0, c0 = time.perf_counter(), time.process_time()
        with open(path, "rb") as fh:
            line = 1
            for data, _ in inputs.chunks(fh):
                batch = reader.feed(data, line)
                line += batch.lines
                lines += batch.lines
                if "handshake_failures" in batch.tables:
                    failures += batch.tables["handshake_failures"].num_rows
            reader.close()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    wall, wc = sorted(walls)[len(walls) // 2], sorted(wcs)[len(wcs) // 2]
    cpu = sorted(cpus)[len(cpus) // 2]
    return {"lines": lines, "failures": failures, "reader_s": round(wall, 3),
            "lines_per_s": round(lines / wall), "cpu_s": round(cpu, 3),
            "lines_per_cpu_s": round(lines / cpu), "wc_l_s": round(wc, 4),
            "ratio_to_wc_l": round(wall / wc, 1), "load_avg": [round(x, 2) for x in os.getloadavg()]}


_INGEST = """import resource, runpy, sys, time
t = time.perf_counter()
sys.argv = ["logcorr", "ingest", sys.argv[1], "--data", sys.argv[2], "-q", "--error-tz", "UTC"]
try:
    runpy.run_module("logcorr", run_name="__main__")
except SystemExit as e:
    assert not e.code, e.code
u = resource.getrusage(resource.RUSAGE_SELF)
print(time.perf_counter() - t, u.ru_utime + u.ru_stime, "pandas" in sys.modules)
"""


def measure_ingest(path: Path, repeat: int = 3) -> dict[str, object]:
    """Median wall and CPU seconds of a whole ``logcorr ingest`` process on ``path``."""
    walls, cpus, wcs, pandas = [], [], [], False
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(["wc", "-l", str(path)], check=True, stdout=subprocess.DEVNULL)
        wcs.append(time.perf_counter() - t0)
        tmp = Path(tempfile.mkdtemp(prefix="logcorr-bench-"))
        try:
            t0 = time.perf_counter()
            # cwd: the temp dir, so that PYTHONPATH (not the current directory) picks logcorr
            out = subprocess.run([sys.executable, "-c", _INGEST, str(path), str(tmp / "d")],
                                 capture_output=True, text=True, check=True, cwd=tmp)
            walls.append(time.perf_counter() - t0)
            _, cpu, loaded = out.stdout.split()[-3:]
            cpus.append(float(cpu))
            pandas |= loaded == "True"
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    with open(path, "rb") as fh:
        lines = sum(1 for _ in fh)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    return {"lines": lines, "ingest_s": round(wall, 3), "lines_per_s": round(lines / wall),
            "cpu_s": round(cpu, 3), "wc_l_s": round(statistics.median(wcs), 4), "pandas_loaded": pandas,
            "all_ingest_s": [round(w, 3) for w in walls], "load_avg": [round(x, 2) for x in os.getloadavg()]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--failures", type=float, default=0.1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ingest", action="store_true", help="time the whole 'logcorr ingest' process")
    ap.add_argument("--json", action="store_true", help="print one JSON line (for bench/run.py)")
    args = ap.parse_args()
    if args.ingest:
        figures = measure_ingest(data_file(args.lines, args.failures), args.repeat)
        print(json.dumps(figures) if args.json else
              f"{figures['lines']:,} lines: logcorr ingest {figures['ingest_s']:.2f} s = {figures['lines_per_s']:,} lines/s "
              f"(CPU {figures['cpu_s']:.2f} s; pandas loaded: {figures['pandas_loaded']}); "
              f"wc -l {figures['wc_l_s']:.3f} s; runs {figures['all_ingest_s']}; load {figures['load_avg']}")
        return
    result = measure(data_file(args.lines, args.failures), args.repeat)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['lines']:,} lines ({result['failures']:,} failures) in {result['reader_s']:.2f} s: "
              f"{result['lines_per_s']:,} lines/s (CPU {result['cpu_s']:.2f} s: {result['lines_per_cpu_s']:,} lines/s); "
              f"wc -l {result['wc_l_s']:.3f} s; ratio {result['ratio_to_wc_l']}x; load {result['load_avg']}")


if __name__ == "__main__":
    main()
