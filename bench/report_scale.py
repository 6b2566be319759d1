"""``make bench``: ``logcorr report`` at scale, 1M/3M/10M sessions with a tenth as many failures.

The data directories are generated once (``tools/make_fleet.py::fleet_tables``: three hosts,
failing clients that also have sessions, whole-second error-log times) and cached in
``bench/data/report-<N>m/`` (shape ``spread``) and ``report-<N>m-steady/``.  Two shapes:

- ``spread`` (the one of earlier rounds): one hour per million sessions, one client per 20
  sessions.  A client's sessions are further apart the larger the data, so fewer failures
  recover within the window: at 10M the report lists 24 times the unrecovered clients of 1M;
- ``steady``: one hour at every size, so ten times the sessions are ten times the clients at
  the same rate each (a larger fleet's hour); the report's output grows as its input does.
  Each run is a whole ``logcorr report --format json`` process
(imports, reads, correlation, the report, ``matches`` written back); wall time and the
child's peak RSS go to ``bench/results/report_scale.json`` and, when ``make bench`` runs it,
into ``results.json`` under ``report_scale``.  Target (issue 11.4): 10M sessions + 1M
failures in at most 10 s and 2 GiB on the 2-core machine, time linear in size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import run

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
RESULTS = HERE / "results"


SHAPES = {"spread": None, "steady": 1}
"""Shape → the generated period in hours (None: one hour per million sessions)."""


def dataset(millions: int, shape: str = "spread") -> Path:
    path = DATA / (f"report-{millions}m" if shape == "spread" else f"report-{millions}m-{shape}")
    if not (path / "manifest.json").exists():
        sys.path.insert(0, str(ROOT))
        from tools.make_fleet import write_fleet_store

        t0 = time.perf_counter()
        write_fleet_store(path, millions * 1_000_000, millions * 100_000, hours=SHAPES[shape])
        print(f"generated {path} in {time.perf_counter() - t0:.0f} s", flush=True)
    return path


def main() -> dict[str, object]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1,3,10", help="millions of sessions, comma separated")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--shapes", default="spread,steady", help=f"comma separated, of {', '.join(SHAPES)}")
    ap.add_argument("--engine", default="embedded",
                    help="embedded | spark | reference (session facts by the pandas reference, not DuckDB)")
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    env_cmd = [sys.executable, "-m", "logcorr", "report", "--format", "json", "--engine", args.engine]
    out: dict[str, object] = {"engine": args.engine, "cpus": os.cpu_count(),
                              "load_avg_before": os.getloadavg(), "runs": []}
    for shape, m in ((s, int(x)) for s in args.shapes.split(",") for x in args.sizes.split(",")):
        data = dataset(m, shape)
        walls, rss = [], []
        for _ in range(args.repeat):
            if args.engine == "reference":
                code = ("import sys, logcorr; from logcorr.report.render import render_json; "
                        "from logcorr.report.pipeline import run_report; "
                        "sys.stdout.write(render_json(run_report(logcorr.open(sys.argv[1]), window='5m', "
                        "min_protocol='TLSv1.2', since=None, until=None, save_matches=True, facts_with='pandas')))")
                wall, peak = run([sys.executable, "-c", code, str(data)])
            else:
                wall, peak = run([*env_cmd, "--data", str(data)])
            walls.append(wall)
            rss.append(peak)
        row = {"shape": shape, "sessions": m * 1_000_000, "failures": m * 100_000,
               "wall_s": round(statistics.median(walls), 2), "peak_rss_mib": round(max(rss) / 1024),
               "all_wall_s": [round(w, 2) for w in walls]}
        out["runs"].append(row)  # type: ignore[attr-defined]
        print(f"report ({shape}) {m}M sessions + {m * 100}k failures: {row['wall_s']} s, "
              f"peak RSS {row['peak_rss_mib']} MiB", flush=True)
    (RESULTS / "report_scale.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
