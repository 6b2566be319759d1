"""Access-log reader throughput: lines/s of ``AccessLogReader`` against ``wc -l``.

Usage: ``python bench/accesslog_throughput.py [--lines N]``.  Generates N lines of the
recommended log_format (with ``bench/run.py``'s generator, cached in bench/data/), then
feeds the file to the reader in the 8 MiB chunks that ingest uses.  The machine is
shared: compare with the ``wc -l`` figure of the same run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    args = ap.parse_args()
    from run import gen_access  # type: ignore[import-not-found]

    from logcorr import inputs
    from logcorr.sources import Options
    from logcorr.sources.accesslog import AccessLogReader
    from logcorr.sources.logformat import RECOMMENDED

    path = HERE / "data" / f"access-{args.lines}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        gen_access(path, args.lines)
    t0 = time.perf_counter()
    subprocess.run(["wc", "-l", str(path)], check=True, stdout=subprocess.DEVNULL)
    wc = time.perf_counter() - t0

    reader = AccessLogReader(str(path), Options(), RECOMMENDED)
    lines = parsed = 0
    t0 = time.perf_counter()
    with open(path, "rb") as fh:
        line = 1
        for data, _ in inputs.chunks(fh):
            batch = reader.feed(data, line)
            line += batch.lines
            lines += batch.lines
            parsed += batch.parsed
    took = time.perf_counter() - t0
    print(f"{lines} lines ({parsed} parsed) in {took:.2f} s: {lines / took:,.0f} lines/s; "
          f"wc -l: {wc:.2f} s ({lines / wc:,.0f} lines/s); ratio {took / wc:.1f}x")


if __name__ == "__main__":
    main()
