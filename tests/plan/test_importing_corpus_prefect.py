"""`flowplan import` round-trips the deployments of every corpus file a real Prefect server
takes: apply the file to the server (stub flows for its entrypoints, its pools made there), drop
its deployments section, import from the server, plan: no changes. One server (SQLite) for all
files; everything a file made is deleted before the next."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from flowplan.backends.prefect import PrefectBackend
from tests.conftest import PrefectPair, Result, corpus_files
from tests.plan.corpus_round_trip import place, pools_used, round_trip
from tests.prefect_server import reset

pytestmark = pytest.mark.corpus

# how many corpus files the Prefect server takes (applies without build steps, secrets or
# variables it does not have): each of them must round-trip
TAKEN = 52


def test_every_corpus_file_the_prefect_server_takes_round_trips(
    prefect_on_sqlite: PrefectPair, project: Callable[..., Path], cli: Callable[..., Result],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    server = prefect_on_sqlite[0]  # not through the counting proxy: nothing here counts
    monkeypatch.setenv("FLOWPLAN_API_URL", server.url)
    backend = PrefectBackend(server.url)
    taken, failed = [], []
    root = project({})
    try:
        for index, source in enumerate(corpus_files()):
            monkeypatch.setenv("FLOWPLAN_HOME", str(tmp_path / f"home-{index}"))
            placed = place(root, source)
            if placed is None:
                continue
            text, data = placed
            reset(server.url)
            for name, kind in pools_used(data):
                backend.create_work_pool(name, kind)
            trip = round_trip(root, text, cli, lambda: len(backend.read_deployments()))
            if trip.taken:
                taken.append(source.name)
            if trip.failure:
                failed.append(f"{source.name}: {trip.failure}")
    finally:
        backend.close()
        reset(server.url)
    assert not failed, "\n\n".join(failed)
    assert len(taken) == TAKEN, taken
