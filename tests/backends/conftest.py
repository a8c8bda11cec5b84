from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.backends.prefect import PrefectBackend
from flowplan.backends.protocol import Backend


@pytest.fixture(params=["local", "prefect"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Every backend runs the same contract tests: the local store, and a real Prefect server
    (emptied before each test)."""
    if request.param == "prefect":
        api = request.getfixturevalue("prefect_api")
        remote = PrefectBackend(api.url)
        yield remote
        remote.close()
        return
    local = LocalBackend(tmp_path / "store" / "flowplan.db")
    yield local
    local.close()
