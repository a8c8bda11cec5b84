"""`flowplan import` round-trips the deployments of every corpus file the local store can take:
apply the file (with stub flows for its entrypoints and its pools made), drop its deployments
section, import, plan: no changes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from flowplan.backends.local import LocalBackend
from tests.conftest import Result, corpus_files
from tests.plan.corpus_round_trip import place, pools_used, round_trip

pytestmark = pytest.mark.corpus

# how many corpus files the local store takes (applies without build steps, secrets or
# variables it does not have): each of them must round-trip (CBIIT__prefect-toolkit's
# `parameters:` (null) is refused, as Prefect refuses it)
TAKEN = 52


def test_every_corpus_file_the_store_takes_round_trips(
    project: Callable[..., Path], cli: Callable[..., Result], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    taken, failed = [], []
    root = project({})
    for index, source in enumerate(corpus_files()):
        home = tmp_path / f"home-{index}"
        monkeypatch.setenv("FLOWPLAN_HOME", str(home))
        placed = place(root, source)
        if placed is None:
            continue
        text, data = placed
        store = LocalBackend(home / "flowplan.db")
        try:
            for name, kind in pools_used(data):
                store.create_work_pool(name, kind)
        finally:
            store.close()

        def live(home: Path = home) -> int:
            store = LocalBackend(home / "flowplan.db")
            try:
                return len(store.read_deployments())
            finally:
                store.close()

        trip = round_trip(root, text, cli, live)
        if trip.taken:
            taken.append(source.name)
        if trip.failure:
            failed.append(f"{source.name}: {trip.failure}")
    assert not failed, "\n\n".join(failed)
    assert len(taken) == TAKEN, taken
