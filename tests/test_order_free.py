"""The report is a function of the set of inputs (SPEC §4, issue 10.1).

The same files, ingested in any order, split across any number of ``ingest`` runs, on a
machine in any zone, give the same whole JSON report: every judgement that depends on
other files (load balancers learned from access logs, the real client named by a PROXY
header or a capture, copies of one failure, the error log's inferred zone) is made at
report time.  The inputs are the committed samples (recorded from the real-nginx lab, with
its capture) and a fresh lab run.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import logcorr
from logcorr.report.render import render_json

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted(p.name for p in (ROOT / "sample_logs").iterdir() if p.name != "README.md")


@contextmanager
def machine_zone(name: str) -> Iterator[None]:
    """Run as if this machine were in zone ``name`` (``TZ`` + ``tzset``)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def report_json(files: list[Path], groups: list[list[int]], data: Path, zone: str = "Asia/Kolkata") -> str:
    """Ingest ``files`` in the runs ``groups`` (indexes into files), then the JSON report."""
    with machine_zone(zone):
        for group in groups:
            result = logcorr.ingest([str(files[i]) for i in group], data)
            assert not result.partial, [f.error for f in result.files if f.error]
    return render_json(logcorr.open(data).report(window="30s", save_matches=False))


def copy_logs(src: Path, names: list[str], dest: Path) -> list[Path]:
    """The files ``names`` of ``src``, copied flat into ``dest/logs`` (one host: this machine)."""
    logs = dest / "logs"
    logs.mkdir(parents=True)
    for n in names:
        shutil.copy2(src / n, logs / n)
    return [logs / n for n in names]


def split(order: list[int], cuts: list[int]) -> list[list[int]]:
    """``order`` cut into consecutive runs at the positions ``cuts``."""
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(order)}), len(order)]
    return [order[a:b] for a, b in itertools.pairwise(bounds) if order[a:b]]


@pytest.fixture(scope="module")
def samples_reference(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("ref")
    files = copy_logs(ROOT / "sample_logs", SAMPLES, root)
    return report_json(files, [list(range(len(files)))], root / "data")


def _errors_first(names: list[str]) -> list[int]:
    return sorted(range(len(names)), key=lambda i: (not names[i].startswith(("error", "proxy-debug")),
                                                     names[i].endswith(".pcap"), names[i]))


@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(order=st.permutations(list(range(len(SAMPLES)))),
       cuts=st.lists(st.integers(min_value=1, max_value=len(SAMPLES) - 1), max_size=4),
       zone=st.sampled_from(["Asia/Kolkata", "America/New_York", "UTC", "Pacific/Chatham"]))
# The order an operator is most likely to use by accident: error logs first, one run each;
# access logs and the capture later.
@example(order=_errors_first(SAMPLES), cuts=list(range(1, len(SAMPLES))), zone="Europe/Berlin")
def test_samples_report_is_order_free(samples_reference: str, tmp_path_factory: pytest.TempPathFactory,
                                      order: list[int], cuts: list[int], zone: str) -> None:
    root = tmp_path_factory.mktemp("run")
    files = copy_logs(ROOT / "sample_logs", SAMPLES, root)
    got = report_json(files, split(order, cuts), root / "data", zone)
    assert json.loads(got) == json.loads(samples_reference)


@pytest.mark.nginx
def test_lab_report_is_the_same_when_error_logs_come_first(lab: object, tmp_path: Path) -> None:
    """The lab's logs and capture: error logs first, then access logs, then the capture."""
    logs: Path = lab.logs  # type: ignore[attr-defined]
    staged = tmp_path / "lab"
    shutil.copytree(logs, staged)
    shutil.copy2(lab.prefix / "lab.pcap", staged / "lab.pcap")  # type: ignore[attr-defined]
    names = sorted(p.name for p in staged.iterdir() if p.is_file())
    one = report_json(copy_logs(staged, names, tmp_path / "a"), [list(range(len(names)))], tmp_path / "a" / "data")
    files = copy_logs(staged, names, tmp_path / "b")
    errors = [i for i, n in enumerate(names) if n.startswith(("error", "proxy-debug"))]
    access = [i for i, n in enumerate(names) if i not in errors and not n.endswith(".pcap")]
    capture = [i for i, n in enumerate(names) if n.endswith(".pcap")]
    assert errors
    assert access
    assert capture
    later = report_json(files, [[i] for i in errors] + [access, capture], tmp_path / "b" / "data",
                        zone="America/Los_Angeles")
    assert json.loads(later) == json.loads(one)
    assert json.loads(one)["totals"]["handshake_failures"] > 0


@pytest.fixture(scope="module")
def lab_files(lab: object, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], str]:
    """The clean lab's logs and capture, staged once, with the one-step report."""
    staged = tmp_path_factory.mktemp("lab-staged")
    shutil.copytree(lab.logs, staged / "src")  # type: ignore[attr-defined]
    shutil.copy2(lab.prefix / "lab.pcap", staged / "src" / "lab.pcap")  # type: ignore[attr-defined]
    names = sorted(p.name for p in (staged / "src").iterdir() if p.is_file())
    files = copy_logs(staged / "src", names, staged / "one")
    return staged / "src", names, report_json(files, [list(range(len(names)))], staged / "one" / "data")


@pytest.mark.nginx
@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_lab_report_is_order_free(lab_files: tuple[Path, list[str], str],
                                  tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    """The lab's logs and capture in random orders and groupings of ingest runs."""
    src, names, reference = lab_files
    order = data.draw(st.permutations(list(range(len(names)))))
    cuts = data.draw(st.lists(st.integers(min_value=1, max_value=len(names) - 1), max_size=4))
    root = tmp_path_factory.mktemp("lab-run")
    got = report_json(copy_logs(src, names, root), split(order, cuts), root / "data", "America/New_York")
    assert json.loads(got) == json.loads(reference)
