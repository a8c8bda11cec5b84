"""Fixtures for the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.workers import Workers


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    """Start worker processes on the test's store; all are killed (runs too) at the end."""
    started = Workers(tmp_path / "home", tmp_path)
    yield started
    started.stop_all()
