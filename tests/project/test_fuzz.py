"""No input crashes `validate`: every file gets exit 0 or 1 with a message, never exit 3.

Known crashers are kept as seeds (tests/project/fuzz_seeds/); hypothesis mutates the real
corpus files (a fixed set of examples each run, derandomized, so CI is deterministic;
bench/fuzz_validate.py runs thousands of random ones)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import corpus_files
from tests.project.fuzzing import mutate, validate, write

SEEDS = sorted((Path(__file__).parent / "fuzz_seeds").glob("*.yaml"))
CORPUS = corpus_files()


@pytest.mark.parametrize("seed", SEEDS, ids=[seed.name for seed in SEEDS])
def test_known_crashers_get_a_positioned_error(seed: Path, tmp_path: Path) -> None:
    code, printed = validate(seed)
    assert code in (0, 1), printed
    assert "Internal error" not in printed
    # an error or warning names the file (and the line and column, when known)
    assert f"error: {seed}" in printed or f"warning: {seed}" in printed


@pytest.mark.corpus
@settings(max_examples=500, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(index=st.integers(0, max(len(CORPUS) - 1, 0)), seed=st.integers(0, 2**32 - 1))
def test_mutated_corpus_files_never_crash(index: int, seed: int, tmp_path: Path) -> None:
    text = mutate(CORPUS[index].read_text(), random.Random(seed))
    path = tmp_path / "prefect.yaml"
    write(path, text)
    code, printed = validate(path)
    assert code in (0, 1), f"exit {code} for a mutant of {CORPUS[index].name}:\n{printed}"
