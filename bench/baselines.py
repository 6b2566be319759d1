"""Baselines measured in the same run on the same file: ``wc -l``, GoAccess and lnav.

The machines here are shared and noisy, so a figure alone says little; beside these it
says how logcorr compares with what an operator already has (issue 11.5):

- ``wc -l``: how fast this machine reads lines right now (the floor);
- GoAccess 1.7 (Debian ``goaccess``) building its full report from the access log, with a
  ``log-format`` for the combined prefix of the recommended format (the TLS fields at the
  end are skipped with ``%^``), written as JSON to a temporary file;
- lnav 0.11 (Debian ``lnav``) counting the lines of its ``access_log`` table in batch mode
  (``lnav -n -c ';SELECT count(*) FROM access_log'``): the fastest anchor.

Each tool is run as a whole process, median of ``repeat`` runs, with its peak RSS.  A
tool that is not installed is recorded as missing (``make bench`` installs both through
``tools/system-deps.sh``).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

GOACCESS_FORMAT = '%h %^[%d:%t %^] "%r" %s %b "%R" "%u" %^'


def _run(cmd: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KiB) and stdout of one child process.

    The peak RSS comes from GNU time (``/usr/bin/time -f %M``) run as the child: the rusage
    of a child forked from this Python process counts the parent's pages it held before
    ``exec``, so ``wait4`` gave every tool about 140 MiB.
    """
    gnu_time = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    full = [gnu_time, "-f", "%M", *cmd] if gnu_time else cmd
    t0 = time.perf_counter()
    proc = subprocess.run(full, capture_output=True, check=False)
    wall = time.perf_counter() - t0
    out = proc.stdout.decode(errors="replace")
    err = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err.strip()[:300]}")
    peak = int(err.strip().splitlines()[-1]) if gnu_time and err.strip() else 0
    return wall, peak, out


def commands(path: Path, scratch: Path) -> dict[str, list[str] | None]:
    goaccess = shutil.which("goaccess")
    lnav = shutil.which("lnav")
    return {
        "wc -l": ["wc", "-l", str(path)],
        "goaccess": None if goaccess is None else [
            goaccess, str(path), "--no-global-config", f"--log-format={GOACCESS_FORMAT}",
            "--date-format=%d/%b/%Y", "--time-format=%T", "-o", str(scratch / "goaccess.json")],
        "lnav": None if lnav is None else [lnav, "-n", "-c", ";SELECT count(*) FROM access_log", str(path)],
    }


def measure(path: Path, lines: int, repeat: int = 3) -> dict[str, dict[str, object]]:
    """``{tool: {seconds, lines_per_s, peak_rss_mib, ...}}`` for the access log ``path``."""
    out: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="logcorr-baseline-") as tmp:
        for name, cmd in commands(path, Path(tmp)).items():
            if cmd is None:
                out[name] = {"missing": True}
                continue
            walls, rss = [], []
            counted = None
            for _ in range(repeat):
                wall, peak, stdout = _run(cmd)
                walls.append(wall)
                rss.append(peak)
                if name == "lnav":
                    counted = int(stdout.split()[-1])
            wall = statistics.median(walls)
            out[name] = {"seconds": round(wall, 3), "lines_per_s": round(lines / wall),
                         "peak_rss_mib": round(max(rss) / 1024, 1),
                         "all_seconds": [round(w, 3) for w in walls]}
            if counted is not None:
                out[name]["lines_counted"] = counted  # lnav must have recognised every line
    return out
