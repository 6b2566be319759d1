"""``make bench`` (last step): the side-by-side table of one run, against issue 11's targets.

Reads what the other bench scripts wrote in bench/results/ (``results.json`` from
bench/run.py, with the baselines and the report at scale; ``memory.json`` from
bench/memory.py) and writes ``results.md``: one row per measurement, the baselines of the
same run beside logcorr, the target and whether this run met it.  The same rows go into
``results.json`` under ``table``, so the README's figures can be checked against a file.

    python bench/table.py
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

MB = 1000 * 1000 / (1 << 20)  # MiB per MB

TARGETS = {
    "access": ("≥ 1.5M lines/s", lambda r: r["lines_per_s"] >= 1_500_000),
    "error_10pct": ("≥ 1M lines/s", lambda r: r["lines_per_s"] >= 1_000_000),
    "error": ("", None),
}
NAMES = {"access": "access log, recommended format", "error": "error log, 50% TLS lines",
         "error_10pct": "error log, 10% handshake failures"}


def _load(name: str) -> dict[str, Any]:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else {}


def _rate(figures: Mapping[str, Any]) -> str:
    if figures.get("missing"):
        return "not installed"
    return (f"{figures['seconds']:.2f} s ({figures['lines_per_s'] / 1e6:.2f}M lines/s), "
            f"{figures['peak_rss_mib']:.0f} MiB")


def _met(ok: bool | None) -> str:
    return "" if ok is None else ("yes" if ok else "**no**")


def ingest_rows(results: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per ingested file: ``wc -l``, GoAccess, lnav (access log only) and logcorr."""
    rows = []
    lines = results.get("lines", 0)
    for name, run in results.get("runs", {}).items():
        base = run.get("baselines", {})
        target, check = TARGETS.get(name, ("", None))
        rows.append({
            "input": f"{NAMES.get(name, name)}, {lines / 1e6:g}M lines ({run['file_bytes'] / 1e6:.0f} MB)",
            "wc -l": f"{run['wc_l_s']:.3f} s",
            "GoAccess": _rate(base["goaccess"]) if "goaccess" in base else "",
            "lnav (count)": _rate(base["lnav"]) if "lnav" in base else "",
            "logcorr": (f"{run['ingest_s']:.2f} s ({run['lines_per_s'] / 1e6:.2f}M lines/s), "
                        f"{run['peak_rss_mib']:.0f} MiB"),
            "target": target, "met": _met(check(run) if check else None)})
    return rows


def memory_rows(memory: Mapping[str, Any]) -> list[dict[str, str]]:
    """Peak RSS of access-log ingest by input size (flat, ≤ 500 MB)."""
    if not memory.get("runs"):
        return []
    sizes = ", ".join(f"{r['peak_rss_mib']:.0f}" for r in memory["runs"])
    counts = "/".join(f"{r['lines'] / 1e6:g}" for r in memory["runs"])
    return [{"input": f"access log, {counts}M lines: peak RSS (MiB)", "wc -l": "", "GoAccess": "",
             "lnav (count)": "", "logcorr": f"{sizes} ({memory['growth_mib_per_million_lines']:+.1f} MiB per 1M lines)",
             "target": f"≤ 500 MB ({500 * MB:.0f} MiB), flat", "met": _met(bool(memory["within_limit"]))}]


def startup_rows(results: Mapping[str, Any]) -> list[dict[str, str]]:
    """Start-up: ``--help`` and the ingest of a one-line file, beside ``python -c pass``."""
    start = results.get("startup") or {}
    targets = {"help": 0.15, "ingest_one_line_access": 0.4, "ingest_one_line_error": 0.4}
    rows = []
    for key, limit in targets.items():
        if key not in start:
            continue
        seconds = float(start[key]["seconds"])
        bases = ", ".join(f"{name} {start[key_]['seconds']:.3f} s" for key_, name in
                          (("python_c_pass", "python -c pass"), ("import_pyarrow", "import pyarrow"))
                          if key_ in start)
        rows.append({"input": f"start-up: {key.replace('_', ' ')}", "wc -l": "", "GoAccess": "",
                     "lnav (count)": bases,
                     "logcorr": f"{seconds:.3f} s", "target": f"≤ {limit} s", "met": _met(seconds <= limit)})
    return rows


LINEAR_SLACK = 1.5
"""Time per session may grow by at most this factor from the smallest size to a larger one."""


def report_rows(results: Mapping[str, Any]) -> list[dict[str, str]]:
    """``logcorr report`` at 1M/3M/10M sessions (10M + 1M failures: ≤ 10 s, ≤ 2 GiB; linear),
    per data shape (``bench/report_scale.py``; results without one are ``spread``'s)."""
    scale = results.get("report_scale") or {}
    shapes: dict[str, list[dict[str, Any]]] = {}
    for run in scale.get("runs", []):
        shapes.setdefault(run.get("shape", "spread"), []).append(run)
    rows = []
    for shape, found in shapes.items():
        runs = sorted(found, key=lambda r: r["sessions"])
        for run in runs:
            per = run["wall_s"] / run["sessions"]
            linear = per <= LINEAR_SLACK * runs[0]["wall_s"] / runs[0]["sessions"]
            big = run["sessions"] >= 10_000_000
            ok = (run["wall_s"] <= 10 and run["peak_rss_mib"] <= 2048 and linear) if big else (
                linear if run is not runs[0] else None)
            rows.append({"input": f"report ({scale.get('engine', 'embedded')}, {shape}), "
                                  f"{run['sessions'] / 1e6:g}M sessions + {run['failures'] / 1e6:g}M failures",
                         "wc -l": "", "GoAccess": "", "lnav (count)": "",
                         "logcorr": f"{run['wall_s']:.1f} s, {run['peak_rss_mib']:.0f} MiB",
                         "target": "≤ 10 s, ≤ 2 GiB, linear" if big else "linear", "met": _met(ok)})
    return rows


COLUMNS = ["input", "wc -l", "GoAccess", "lnav (count)", "logcorr", "target", "met"]


def markdown(rows: list[dict[str, str]], results: Mapping[str, Any]) -> str:
    machine = results.get("machine", {})
    head = (f"Whole processes, medians of {results.get('repeat', '?')} runs, one `make bench` run on "
            f"{machine.get('cpus', '?')} CPUs (load average before: "
            f"{', '.join(f'{x:.1f}' for x in machine.get('load_avg', []))}).\n\n")
    lines = ["| " + " | ".join(COLUMNS) + " |", "| " + " | ".join("---" for _ in COLUMNS) + " |"]
    lines += ["| " + " | ".join(r[c] for c in COLUMNS) + " |" for r in rows]
    return head + "\n".join(lines) + "\n"


def main() -> None:
    results, memory = _load("results.json"), _load("memory.json")
    rows = [*ingest_rows(results), *memory_rows(memory), *startup_rows(results), *report_rows(results)]
    (RESULTS / "results.md").write_text(markdown(rows, results))
    if results:
        results["table"] = rows
        results["memory"] = memory
        (RESULTS / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print((RESULTS / "results.md").read_text())


if __name__ == "__main__":
    main()
