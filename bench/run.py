"""``make bench``: ingest throughput against a baseline measured in the same run.

Generates (once, cached in bench/data/) a 1M-line access log in the recommended
log_format and a 1M-line error log (a realistic mix: most lines are not about TLS),
then times, each in a fresh data directory:

- ``wc -l`` over the same file (the baseline: how fast the machine reads lines now),
- ``logcorr ingest`` of the access log, and of the error log,
- start-up: ``logcorr --help`` and one-line ingests (bench/startup.py),

and records wall time, lines/s, the ratio to ``wc -l`` and the child's peak RSS in
bench/results/results.json.  Machines here are shared and noisy: compare ratios, and
the median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
RESULTS = HERE / "results"


def run(cmd: list[str], stdout: int | None = subprocess.DEVNULL) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child process.

    The peak comes from GNU time (``/usr/bin/time -f %M``) wrapped around the command, as for
    the baselines (bench/baselines.py): ``wait4`` on a child forked from this process counts
    the pages it shared with this process before ``exec`` (200 MiB for ``/bin/true`` forked
    from a Python holding 200 MiB).
    """
    gnu_time = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None
    full = [gnu_time, "-f", "%M", *cmd] if gnu_time else cmd
    t0 = time.perf_counter()
    proc = subprocess.Popen(full, stdout=stdout, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {err}")
    lines = err.strip().splitlines()
    peak = int(lines[-1]) if gnu_time and lines and lines[-1].isdigit() else usage.ru_maxrss
    return wall, peak


def gen_access(path: Path, n: int, seed: int = 42) -> None:
    from logcorr.sources.logformat import RECOMMENDED

    rnd = random.Random(seed)
    clients = [f"198.51.{rnd.randrange(256)}.{rnd.randrange(1, 255)}" for _ in range(20000)]
    protos = ["TLSv1.3"] * 60 + ["TLSv1.2"] * 35 + ["TLSv1.1"] * 3 + ["TLSv1"] * 2
    ciphers = {"TLSv1.3": "TLS_AES_256_GCM_SHA384", "TLSv1.2": "ECDHE-RSA-AES128-GCM-SHA256",
               "TLSv1.1": "ECDHE-RSA-AES128-SHA", "TLSv1": "ECDHE-RSA-AES128-SHA"}
    agents = ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
              "okhttp/2.2.0", "curl/8.5.0", "Dalvik/2.1.0 (Linux; U; Android 6.0.1; SM-G920F)"]
    t = 1795714168.0
    variables = re.findall(r"\$\{?(\w+)\}?", RECOMMENDED)
    template = re.sub(r"\$\{?(\w+)\}?", lambda m: "{" + m.group(1) + "}", RECOMMENDED.replace("{", "{{").replace("}", "}}"))
    conn = 0
    with open(path, "w") as fh:
        for i in range(n):
            t += rnd.random() * 0.01
            proto = rnd.choice(protos)
            conn += 1
            values = {
                "remote_addr": "10.0.1.23", "remote_user": "-", "realip_remote_addr": "10.0.1.23",
                "time_local": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t)),
                "time_iso8601": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t)),
                "request": f"GET /item/{rnd.randrange(70000)} HTTP/1.1", "status": "200",
                "body_bytes_sent": str(rnd.randrange(100, 50000)), "http_referer": "-",
                "http_user_agent": rnd.choice(agents), "ssl_protocol": proto,
                "ssl_cipher": ciphers[proto], "ssl_server_name": "api.example.com",
                "ssl_session_reused": rnd.choice("r.."), "proxy_protocol_addr": rnd.choice(clients),
                "connection": str(conn), "connection_requests": str(rnd.randrange(1, 4)),
                "msec": f"{t:.3f}", "request_time": f"{rnd.random() * 0.2:.3f}",
            }
            fh.write(template.format(**{v: values.get(v, "-") for v in variables}) + "\n")
            del i


def gen_error(path: Path, n: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    reasons = ["error:0A000175:SSL routines::inappropriate fallback",
               "error:0A0000C1:SSL routines::no shared cipher",
               "error:0A000102:SSL routines::unsupported protocol",
               "error:0A000418:SSL routines::tlsv1 alert unknown ca:SSL alert number 48"]
    t = 1795714168
    with open(path, "w") as fh:
        for i in range(n):
            t += rnd.random() < 0.1
            ts = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(t))
            r = rnd.random()
            if r < 0.3:
                fh.write(f"{ts} [info] 1234#1234: *{i} SSL_do_handshake() failed (SSL: {rnd.choice(reasons)}) "
                         f"while SSL handshaking, client: 10.0.1.{rnd.randrange(1, 50)}, server: 0.0.0.0:443\n")
            elif r < 0.5:
                fh.write(f"{ts} [info] 1234#1234: *{i} peer closed connection in SSL handshake while SSL handshaking, "
                         f"client: 10.0.1.{rnd.randrange(1, 50)}, server: 0.0.0.0:443\n")
            else:
                fh.write(f"{ts} [info] 1234#1234: *{i} client 10.0.1.{rnd.randrange(1, 50)} closed keepalive connection\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    inputs = {"access": DATA / f"access-{args.lines}.log", "error": DATA / f"error-{args.lines}.log"}
    if not inputs["access"].exists():
        gen_access(inputs["access"], args.lines)
    if not inputs["error"].exists():
        gen_error(inputs["error"], args.lines)
    # issue 11 item 5: an error log with 10% handshake failures (bench/errorlog_throughput.py)
    sys.path.insert(0, str(HERE))
    from errorlog_throughput import data_file  # type: ignore[import-not-found]

    inputs["error_10pct"] = data_file(args.lines, 0.1)
    logcorr = [sys.executable, "-m", "logcorr"]
    results: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_avg": os.getloadavg()},
        "lines": args.lines, "repeat": args.repeat, "runs": {},
    }
    for name, path in inputs.items():
        walls, wcs, rss = [], [], []
        for _ in range(args.repeat):
            wc, _ = run(["wc", "-l", str(path)])
            tmp = Path(tempfile.mkdtemp(prefix="logcorr-bench-"))
            try:
                opts = ["--error-tz", "UTC"] if name.startswith("error") else []
                wall, peak = run([*logcorr, "ingest", str(path), "--data", str(tmp / "d"), "-q", *opts])
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            walls.append(wall)
            wcs.append(wc)
            rss.append(peak)
        # The same ingest inside one process (a notebook's view): no start-up, no imports.
        inner = []
        for _ in range(args.repeat):
            tmp = Path(tempfile.mkdtemp(prefix="logcorr-bench-"))
            code = ("import time, sys; from logcorr.ingestion import ingest; t = time.perf_counter(); "
                    f"ingest([{str(path)!r}], {str(tmp / 'd')!r}, error_tz='UTC'); "
                    "print(time.perf_counter() - t)")
            try:
                out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
                inner.append(float(out.stdout.split()[-1]))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        in_process = statistics.median(inner)
        wall, wc = statistics.median(walls), statistics.median(wcs)
        results["runs"][name] = {  # type: ignore[index]
            "file_bytes": path.stat().st_size,
            "ingest_s": round(wall, 3), "wc_l_s": round(wc, 4),
            "lines_per_s": round(args.lines / wall),
            "ratio_to_wc_l": round(wall / wc, 1),
            "peak_rss_mib": round(max(rss) / 1024, 1),
            "in_process_s": round(in_process, 3),
            "in_process_lines_per_s": round(args.lines / in_process),
            "all_ingest_s": [round(w, 3) for w in walls],
        }
        if name == "access":
            from baselines import measure

            base = measure(path, args.lines, args.repeat)
            results["runs"][name]["baselines"] = base  # type: ignore[index]
            for tool, figures in base.items():
                if "seconds" in figures:
                    print(f"  baseline {tool:9s} {figures['seconds']:.2f} s = {figures['lines_per_s']:,} lines/s, "
                          f"peak RSS {figures['peak_rss_mib']} MiB")
        print(f"{name:7s} {args.lines:,} lines: ingest {wall:.2f} s = {args.lines / wall:,.0f} lines/s "
              f"({wall / wc:.0f}x wc -l at {wc:.3f} s), peak RSS {max(rss) / 1024:.0f} MiB; "
              f"in one process {in_process:.2f} s = {args.lines / in_process:,.0f} lines/s")
    # The error-log reader alone, fed the 8 MiB chunks ingest uses (wall and CPU time).
    out = subprocess.run([sys.executable, str(HERE / "errorlog_throughput.py"), "--lines", str(args.lines),
                          "--repeat", str(args.repeat), "--json"], capture_output=True, text=True, check=False)
    if out.returncode == 0 and out.stdout.strip():
        results["errorlog_reader_10pct"] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"error-log reader (10% failures) {results['errorlog_reader_10pct']}")
    pcap = HERE / "pcap_throughput.py"
    if pcap.exists():
        out = subprocess.run([sys.executable, str(pcap), "--json"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            results["pcap"] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"pcap    {results['pcap']}")
    # Start-up (issue 11.5): --help and one-line ingests against python -c pass / import pyarrow
    out = subprocess.run([sys.executable, str(HERE / "startup.py"), "--repeat", str(max(5, args.repeat)),
                          "--json"], capture_output=True, text=True, check=False)
    if out.returncode == 0 and out.stdout.strip():
        results["startup"] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"startup {results['startup']}")
    # logcorr report at 1M/3M/10M sessions (issue 11.4): bench/report_scale.py
    scale = subprocess.run([sys.executable, str(HERE / "report_scale.py")], check=False)
    if scale.returncode == 0 and (RESULTS / "report_scale.json").exists():
        results["report_scale"] = json.loads((RESULTS / "report_scale.json").read_text())
    (RESULTS / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {RESULTS / 'results.json'}")


if __name__ == "__main__":
    main()
