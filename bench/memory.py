"""``make bench`` (memory): peak RSS of ``logcorr ingest`` against input size.

Builds access logs of 1M, 5M and 10M lines in the recommended log_format (the 1M-line log of
bench/run.py, repeated; cached in bench/data/) and ingests each in a fresh data directory,
one child process per run, recording wall time and the child's peak RSS (``wait4``) in
bench/results/memory.json.  Flat memory means the peak does not grow with the input: ingest
commits in bounded parts (``logcorr.ingestread.COMMIT_ROWS`` rows) instead of holding every
table until the end.  The target is a peak under 500 MB at any size.

    python bench/memory.py [--sizes 1,5,10] [--keep-data]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import DATA, RESULTS, gen_access, run  # noqa: E402

LIMIT_MIB = 500 * 1000 * 1000 / (1 << 20)  # 500 MB


def build(millions: int) -> Path:
    base = DATA / "access-1000000.log"
    if not base.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        gen_access(base, 1_000_000)
    if millions == 1:
        return base
    path = DATA / f"access-{millions}M.log"
    if not path.exists() or path.stat().st_size != base.stat().st_size * millions:
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as out:
            for _ in range(millions):
                with open(base, "rb") as src:
                    shutil.copyfileobj(src, out, 16 << 20)
        tmp.rename(path)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1,5,10", help="millions of lines, comma-separated")
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = []
    for m in (int(x) for x in args.sizes.split(",")):
        path = build(m)
        tmp = Path(tempfile.mkdtemp(prefix="logcorr-bench-mem-"))
        try:
            wall, peak_kib = run([sys.executable, "-m", "logcorr", "ingest", str(path), "--data", str(tmp / "d"), "-q"])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        row = {"lines": m * 1_000_000, "file_bytes": path.stat().st_size, "ingest_s": round(wall, 2),
               "peak_rss_mib": round(peak_kib / 1024, 1)}
        rows.append(row)
        print(f"memory  {m:>2}M lines ({row['file_bytes'] / 1e9:.2f} GB): ingest {wall:.1f} s, "
              f"peak RSS {row['peak_rss_mib']:.0f} MiB", flush=True)
    peak = max(r["peak_rss_mib"] for r in rows)
    growth = (rows[-1]["peak_rss_mib"] - rows[0]["peak_rss_mib"]) / max(1, (rows[-1]["lines"] - rows[0]["lines"]) / 1e6)
    summary = {"runs": rows, "max_peak_rss_mib": peak, "growth_mib_per_million_lines": round(growth, 1),
               "limit_mib": round(LIMIT_MIB, 1), "within_limit": peak <= LIMIT_MIB}
    (RESULTS / "memory.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"memory: peak {peak:.0f} MiB (limit {LIMIT_MIB:.0f} MiB), {growth:+.1f} MiB per million lines; "
          f"results: {RESULTS / 'memory.json'}")
    return 0 if peak <= LIMIT_MIB else 1


if __name__ == "__main__":
    raise SystemExit(main())
