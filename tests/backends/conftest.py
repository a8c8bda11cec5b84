from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.backends.prefect import PrefectBackend
from flowplan.backends.protocol import Backend
from tests.conftest import DATABASES, emptied


@pytest.fixture(params=["local", *(f"prefect-{database}" for database in DATABASES)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Every backend runs the same contract tests: the local store, and a real Prefect server
    on SQLite and on PostgreSQL (emptied before each test)."""
    if request.param.startswith("prefect-"):
        database = request.param.removeprefix("prefect-")
        with emptied(request.getfixturevalue(f"prefect_on_{database}")) as api:
            remote = PrefectBackend(api.url)
            yield remote
            remote.close()
        return
    local = LocalBackend(tmp_path / "store" / "flowplan.db")
    yield local
    local.close()
