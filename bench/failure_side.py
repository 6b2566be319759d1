"""Time the failure-side functions inside one real ``report`` run (issue 11.4).

Wraps the functions of the failure side (evidence, attribution, correlation, classes,
``preceded_by``, the verdict) with timers and runs the embedded report on a data
directory, so that their share of the run is visible apart from the sessions side.
Wall and CPU seconds per function (CPU time is the steadier figure on a shared machine;
nested functions are counted inside their callers too).
Usage: ``python bench/failure_side.py DATA`` (``matches`` is not saved: the store is unchanged).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import time
from collections.abc import Callable
from typing import Any

SPOTS = [
    ("logcorr.evidence", "load_evidence", ["logcorr.report.pipeline"]),
    ("logcorr.report.pipeline", "judge_evidence", []),
    ("logcorr.attribution", "attribute_failures", []),
    ("logcorr.correlate", "correlate", []),
    ("logcorr.correlate", "attribute", []),
    ("logcorr.correlate", "link_failures", []),
    ("logcorr.correlate", "_good_sessions", []),
    ("logcorr.classify", "classify", []),
    ("logcorr.sequence", "preceded_by", ["logcorr.report.policy_sections"]),
    ("logcorr.report.verdict", "judge", ["logcorr.report.build"]),
]
TIMES: dict[str, float] = {}
CPU: dict[str, float] = {}


def _timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[name] = TIMES.get(name, 0.0) + time.perf_counter() - t0
            CPU[name] = CPU.get(name, 0.0) + time.process_time() - c0
    return wrapper


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data")
    args = ap.parse_args()
    import logcorr
    from logcorr.report.pipeline import run_report

    for module, name, also in SPOTS:
        mod = importlib.import_module(module)
        wrapped = _timed(name, getattr(mod, name))
        for where in [module, *also]:
            target = importlib.import_module(where)
            if hasattr(target, name):
                setattr(target, name, wrapped)
    t0, c0 = time.perf_counter(), time.process_time()
    run_report(logcorr.open(args.data), window="5m", min_protocol="TLSv1.2", since=None, until=None,
               save_matches=False)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"{'':<44} {'wall':>7}   {'cpu':>7}")
    for module, name, _ in SPOTS:
        print(f"{module + '.' + name:<44} {TIMES.get(name, 0.0):7.2f} s {CPU.get(name, 0.0):7.2f} s")
    print(f"{'run_report':<44} {total:7.2f} s {cpu:7.2f} s")


if __name__ == "__main__":
    main()
