from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.backends.protocol import Backend


@pytest.fixture(params=["local"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Every backend runs the same contract tests (the Prefect backend joins this list)."""
    local = LocalBackend(tmp_path / "store" / "flowplan.db")
    yield local
    local.close()
