"""bench/table.py: the side-by-side table of one ``make bench`` run against issue 11's targets.

The inputs are result files shaped as bench/run.py and bench/memory.py write them (the
figures are made up: this tests the table, not the machine).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_table", ROOT / "bench" / "table.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_table", module)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path)
    return module


def _results() -> dict:
    base = {"wc -l": {"seconds": 0.05, "lines_per_s": 20_000_000, "peak_rss_mib": 2.0},
            "goaccess": {"seconds": 14.0, "lines_per_s": 71_429, "peak_rss_mib": 90.0},
            "lnav": {"seconds": 1.0, "lines_per_s": 1_000_000, "peak_rss_mib": 110.0}}
    return {"machine": {"cpus": 2, "load_avg": [1.0, 1.2, 1.5]}, "lines": 1_000_000, "repeat": 3,
            "runs": {"access": {"file_bytes": 271_000_000, "ingest_s": 0.6, "wc_l_s": 0.05,
                                "lines_per_s": 1_666_667, "peak_rss_mib": 300.0, "baselines": base},
                     "error_10pct": {"file_bytes": 150_000_000, "ingest_s": 1.25, "wc_l_s": 0.03,
                                     "lines_per_s": 800_000, "peak_rss_mib": 200.0}},
            "startup": {"help": {"seconds": 0.12}, "python_c_pass": {"seconds": 0.02},
                        "ingest_one_line_access": {"seconds": 0.5}},
            "report_scale": {"engine": "embedded", "runs": [
                {"sessions": 1_000_000, "failures": 100_000, "wall_s": 2.0, "peak_rss_mib": 500},
                {"sessions": 3_000_000, "failures": 300_000, "wall_s": 20.0, "peak_rss_mib": 900},
                {"sessions": 10_000_000, "failures": 1_000_000, "wall_s": 12.5, "peak_rss_mib": 1500},
                # a result without "shape" is spread's (earlier runs); steady's are judged on their own
                {"shape": "steady", "sessions": 1_000_000, "failures": 100_000, "wall_s": 1.0, "peak_rss_mib": 400},
                {"shape": "steady", "sessions": 10_000_000, "failures": 1_000_000, "wall_s": 9.5,
                 "peak_rss_mib": 1900}]}}


def test_table_puts_baselines_beside_logcorr_and_judges_each_target(table: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps(_results()))
    (tmp_path / "memory.json").write_text(json.dumps({
        "runs": [{"lines": 1_000_000, "peak_rss_mib": 380.0}, {"lines": 10_000_000, "peak_rss_mib": 390.0}],
        "growth_mib_per_million_lines": 1.1, "within_limit": True}))
    table.main()
    md = (tmp_path / "results.md").read_text()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in md.splitlines() if line.startswith("| ")}
    access = rows["access log, recommended format, 1M lines (271 MB)"]
    assert "14.00 s (0.07M lines/s), 90 MiB" in access  # GoAccess, same row
    assert "1.00 s (1.00M lines/s), 110 MiB" in access  # lnav
    assert access.endswith("| ≥ 1.5M lines/s | yes |")
    assert rows["error log, 10% handshake failures, 1M lines (150 MB)"].endswith("| ≥ 1M lines/s | **no** |")
    assert rows["access log, 1/10M lines: peak RSS (MiB)"].endswith("| yes |")
    assert rows["start-up: help"].endswith("| ≤ 0.15 s | yes |")
    assert rows["start-up: ingest one line access"].endswith("| ≤ 0.4 s | **no** |")
    spread = "report (embedded, spread), "
    assert rows[spread + "10M sessions + 1M failures"].endswith("| ≤ 10 s, ≤ 2 GiB, linear | **no** |")
    assert rows[spread + "1M sessions + 0.1M failures"].endswith("| linear |  |")  # the reference size
    assert rows[spread + "3M sessions + 0.3M failures"].endswith("| linear | **no** |")  # 3.3x per session
    assert rows["report (embedded, steady), 1M sessions + 0.1M failures"].endswith("| linear |  |")
    assert rows["report (embedded, steady), 10M sessions + 1M failures"].endswith("| 9.5 s, 1900 MiB | ≤ 10 s, ≤ 2 GiB, linear | yes |")
    saved = json.loads((tmp_path / "results.json").read_text())
    assert [r["input"] for r in saved["table"]] == list(rows)[2:]  # the header and rule rows aside


def test_table_of_a_partial_run_says_what_is_missing(table: ModuleType, tmp_path: Path) -> None:
    results = _results()
    results["runs"]["access"]["baselines"]["goaccess"] = {"missing": True}
    del results["report_scale"]
    (tmp_path / "results.json").write_text(json.dumps(results))
    table.main()
    md = (tmp_path / "results.md").read_text()
    assert "not installed" in md
    assert "report (" not in md
    assert "peak RSS (MiB)" not in md
