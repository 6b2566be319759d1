"""Time the failure-side functions inside one real ``report`` run (issue 11.4).

Wraps the functions of the failure side (evidence, attribution, correlation, classes,
``preceded_by``, the verdict) with timers and runs the embedded report on a data
directory, so that their share of the run is visible apart from the sessions side.
Usage: ``python bench/failure_side.py DATA`` (copy the store first: ``matches`` is not saved).
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


def _timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[name] = TIMES.get(name, 0.0) + time.perf_counter() - t0
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
    t0 = time.perf_counter()
    run_report(logcorr.open(args.data), window="5m", min_protocol="TLSv1.2", since=None, until=None,
               save_matches=False)
    total = time.perf_counter() - t0
    for module, name, _ in SPOTS:
        print(f"{module}.{name:<20} {TIMES.get(name, 0.0):7.2f} s")
    print(f"{'run_report':<45} {total:7.2f} s")


if __name__ == "__main__":
    main()
