"""The fuzzers' findings stay fixed: every reproducer in tests/fuzz/crashes/ is replayed, and a
short seeded run mutates the corpus seeds through every target (``make fuzz`` runs atheris
for longer; tests/fuzz/run.py).  Reproducers in tests/fuzz/crashes/open/ are known reader
bugs not fixed yet (listed in tests/fuzz/crashes/open/README.md) and are not replayed here."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.fuzz.seeds import seeds
from tests.fuzz.targets import TARGETS
from tests.test_hostile_input import mutate

CRASHES = Path(__file__).resolve().parent / "fuzz" / "crashes"
REPRODUCERS = sorted(p for p in CRASHES.glob("*-crash-*") if p.is_file())


def test_every_target_has_a_reproducer_or_seeds() -> None:
    assert set(seeds()) == set(TARGETS)
    assert REPRODUCERS, "tests/fuzz/crashes/ holds the fixed reproducers"


@pytest.mark.parametrize("path", REPRODUCERS, ids=[p.name for p in REPRODUCERS])
def test_fuzz_reproducers_stay_fixed(path: Path) -> None:
    TARGETS[path.name.split("-")[0]](path.read_bytes())


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_short_seeded_fuzz_run(target: str) -> None:
    rnd = random.Random(f"logcorr-{target}")
    cases = 6 if target == "ingest" else 60
    for seed in seeds()[target]:
        TARGETS[target](seed)
        for _ in range(cases):
            TARGETS[target](mutate(seed, rnd))
