"""Start-up of the ``logcorr`` command: whole-process wall time, median of ``--repeat``.

Measures ``logcorr --help``, ``logcorr ingest`` of a one-line access log and of a one-line
error log (each into a fresh data directory, summary printed to a pipe), and as baselines
in the same run ``python -c pass`` and ``python -c "import pyarrow"`` (ingest cannot start
faster than pyarrow imports).  Targets on a 2-core machine: ``--help`` <= 0.15 s, one-line
ingest <= 0.4 s.  ``--json`` prints the figures as one JSON line (bench/run.py stores them).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ACCESS_LINE = '203.0.113.5 - - [02/Dec/2026:04:00:00 +0000] "GET / HTTP/1.1" 200 12 "-" "curl/8.5.0"\n'
ERROR_LINE = ("2026/12/02 04:00:00 [info] 1234#1234: *7 SSL_do_handshake() failed (SSL: error:0A000102:"
              "SSL routines::unsupported protocol) while SSL handshaking, client: 10.0.1.2, server: 0.0.0.0:443\n")


def logcorr_command() -> list[str]:
    """The installed ``logcorr`` script beside this Python, else ``python -m logcorr``."""
    script = Path(sys.executable).parent / "logcorr"
    return [str(script)] if script.exists() else [sys.executable, "-m", "logcorr"]


def wall(cmd: list[str]) -> float:
    """Seconds from start to exit of one child (output to a pipe, as in a script)."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.decode(errors='replace')}")
    return seconds


def measure(repeat: int) -> dict[str, object]:
    """Median wall seconds of each command; the commands run interleaved, so load hits all alike."""
    work = Path(tempfile.mkdtemp(prefix="logcorr-startup-"))
    try:
        (work / "access.log").write_text(ACCESS_LINE)
        (work / "error.log").write_text(ERROR_LINE)
        logcorr = logcorr_command()
        cases = {
            "python_c_pass": [sys.executable, "-c", "pass"],
            "import_pyarrow": [sys.executable, "-c", "import pyarrow"],
            "help": [*logcorr, "--help"],
            "ingest_one_line_access": [*logcorr, "ingest", str(work / "access.log"), "--data", "DATA"],
            "ingest_one_line_error": [*logcorr, "ingest", str(work / "error.log"), "--data", "DATA"],
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for i in range(repeat):
            for n, (name, cmd) in enumerate(cases.items()):
                data = work / f"data-{i}-{n}"
                times[name].append(wall([str(data) if c == "DATA" else c for c in cmd]))
                shutil.rmtree(data, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures: dict[str, object] = {"command": " ".join(Path(c).name for c in logcorr), "repeat": repeat}
    for name, t in times.items():
        figures[name] = {"seconds": round(statistics.median(t), 3), "all_s": [round(x, 3) for x in t]}
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="one JSON line on stdout")
    args = ap.parse_args()
    figures = measure(args.repeat)
    if args.json:
        print(json.dumps(figures))
        return
    for name, value in figures.items():
        if isinstance(value, dict):
            print(f"{name:24s} {value['seconds']:.3f} s")


if __name__ == "__main__":
    main()
