"""``make fuzz``: run each fuzz target under atheris (libFuzzer) for a set time.

    python tests/fuzz/run.py [TARGET...] [--seconds 60]

The corpus of each target lives in tests/fuzz/corpus/<target>/ (seeded by
tests/fuzz/seeds.py from sample_logs and fixtures; libFuzzer adds what finds new
coverage); a crash is written to tests/fuzz/crashes/<target>-crash-<sha1>, which
``make test`` then replays.  Each target runs in its own process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def child(target: str, args: list[str]) -> None:
    import atheris

    sys.path.insert(0, str(ROOT))
    with atheris.instrument_imports(include=["logcorr"]):
        import logcorr.ingestion
        import logcorr.sources.accesslog
        import logcorr.sources.cloudwatch
        import logcorr.sources.elblogs
        import logcorr.sources.errorlog
        import logcorr.sources.logformat
        import logcorr.sources.nginxconf
        import logcorr.sources.nmap
        import logcorr.sources.pcap
        import logcorr.sources.proxyproto
        import logcorr.sources.tls  # noqa: F401
    from tests.fuzz.targets import TARGETS

    corpus = HERE / "corpus" / target
    corpus.mkdir(parents=True, exist_ok=True)
    (HERE / "crashes").mkdir(exist_ok=True)
    argv = [sys.argv[0], str(corpus), f"-artifact_prefix={HERE / 'crashes' / (target + '-')}",
            "-max_len=65536", "-timeout=20", "-rss_limit_mb=3072", *args]
    atheris.Setup(argv, TARGETS[target])
    atheris.Fuzz()


def main() -> int:
    from tests.fuzz.targets import TARGETS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("targets", nargs="*", default=list(TARGETS))
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "60")),
                    help="time per target (default 60, or $FUZZ_SECONDS)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    opts, extra = ap.parse_known_args()
    if opts.child:
        child(opts.child, extra)
        return 0
    from tests.fuzz.seeds import write_seeds

    write_seeds()
    failed = []
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TZ": os.environ.get("TZ", "Asia/Kolkata")}
    for target in opts.targets:
        print(f"== fuzz {target} for {opts.seconds}s", flush=True)
        proc = subprocess.run([sys.executable, str(Path(__file__)), "--child", target,
                               f"-max_total_time={opts.seconds}", "-print_final_stats=1"], env=env, cwd=ROOT)
        if proc.returncode != 0:
            failed.append(target)
    print("fuzz: " + (f"crashes in {', '.join(failed)} (see tests/fuzz/crashes/)" if failed else "no crashes"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
