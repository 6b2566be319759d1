"""The README's picture of ``logcorr watch``: one round over sample_logs/, as an SVG.

    python tools/watch_view.py [--logs sample_logs] [--out docs/watch.svg]

Runs one real round (ingest into a throw-away data directory, the report of the last
hour, the metrics) and renders the live view that a terminal shows, with rich's SVG
export (a terminal-window picture, text kept as text).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from logcorr.watch import RoundState, WatchConfig, Watcher  # noqa: E402
from logcorr.watchview import live_view  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--logs", default=str(ROOT / "sample_logs"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "watch.svg"))
    ap.add_argument("--width", type=int, default=118)
    args = ap.parse_args(argv)
    console = Console(record=True, width=args.width, force_terminal=True, color_system="truecolor",
                      file=open("/dev/null", "w"))  # noqa: SIM115  (closed with the process)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = WatchConfig(paths=[args.logs], data=Path(tmp) / "data", every_s=10, window_s=30, rounds=1,
                          polling=True, ingest_options={"lb_cidrs": ["127.0.0.5/32"]})

        def emit(state: RoundState, watcher: Watcher) -> None:
            console.print(live_view(state, watcher))

        Watcher(cfg, emit, lambda _msg: None).run()
    Path(args.out).write_text(console.export_svg(title="logcorr watch sample_logs --window 30s"),
                              encoding="utf-8")
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
