"""Shared by the plan tests: a real store with the work pool `pool`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowplan.backends.local import LocalBackend


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalBackend]:
    backend = LocalBackend(tmp_path / "flowplan.db")
    backend.create_work_pool("pool", "process")
    yield backend
    backend.close()
