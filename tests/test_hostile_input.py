"""Mutated real logs (flipped, inserted and deleted bytes, NULs, CRs, invalid UTF-8) never
crash a run: every file is read or reported, and every line is accounted for.

The inputs are the committed sample_logs/ (real nginx output, see its README), mutated with
fixed seeds so that a failure is reproducible.  Seeds 1-3 found four reader bugs when this
was first run (dictionary columns in the access-log regex tier, invalid UTF-8 in JSON lines
and in PROXY debug lines, a CR in a CSV sniff).
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

import logcorr

SAMPLES = Path(__file__).resolve().parent.parent / "sample_logs"
SPICE = [b"\n", b"\x00", b'"', b"\\x", b"(SSL: ", b" while ", b"\r\n", b"\r", b"\xff\xfe", b"\xc3("]


def mutate(data: bytes, rnd: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randrange(1, 40)):
        i = rnd.randrange(len(b)) if b else 0
        op = rnd.random()
        if op < 0.4 and b:
            b[i] = rnd.randrange(256)
        elif op < 0.6:
            b[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 20)))
        elif op < 0.8 and b:
            del b[i:i + rnd.randrange(1, 50)]
        else:
            b[i:i] = rnd.choice(SPICE)
    return bytes(b)


@pytest.mark.parametrize("seed", range(1, 9))
def test_mutated_sample_logs_never_crash(seed: int, tmp_path: Path) -> None:
    rnd = random.Random(seed)
    logs = tmp_path / "logs"
    logs.mkdir()
    for p in sorted(SAMPLES.iterdir()):
        if p.suffix == ".md":
            continue
        data = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
        (logs / p.name.removesuffix(".gz")).write_bytes(mutate(data, rnd))
    result = logcorr.ingest([str(logs)], tmp_path / "data")
    for f in result.files:
        assert "internal error" not in (f.error or ""), f.error
        assert f.lines == f.parsed + f.skipped + f.rejected, f
    assert not [w for w in result.warnings if "does not add up" in w]
    report = logcorr.open(tmp_path / "data").report(window="5m")
    assert report.data["schema"] == "logcorr.report/2"
