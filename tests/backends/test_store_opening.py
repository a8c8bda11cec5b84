"""Processes that open a new or existing store at the same instant all succeed."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.backends.local.migrations import SCHEMA_VERSION
from flowplan.errors import StoreError
from tests.backends.open_race import open_at_once


def test_processes_opening_a_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    for attempt in range(30):
        path = tmp_path / f"home-{attempt}" / "flowplan.db"
        failures = open_at_once(path, 8)
        assert failures == [], failures[0]
        backend = LocalBackend(path)
        assert sorted(v.name for v in backend.read_variables()) == [f"v{i}" for i in range(8)]
        backend.close()
        connection = sqlite3.connect(path)
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        connection.close()


def test_processes_opening_an_existing_store_at_once_all_succeed(tmp_path: Path) -> None:
    path = tmp_path / "home" / "flowplan.db"
    LocalBackend(path).create_work_pool("pool", "process")
    for _ in range(10):
        failures = open_at_once(path, 8)
        assert failures == [], failures[0]
    assert LocalBackend(path).read_work_pool("pool").name == "pool"


def test_a_busy_store_reports_the_time_really_waited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowplan.backends.local import store

    path = tmp_path / "home" / "flowplan.db"
    LocalBackend(path).read_work_pools()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a long writer in another connection
    monkeypatch.setattr(store, "BUSY_TIMEOUT_MS", 300)
    started = time.monotonic()
    with pytest.raises(StoreError, match=r"stayed busy for \d+\.\d s") as caught:
        LocalBackend(path).set_variable("x", 1)
    elapsed = time.monotonic() - started
    reported = float(str(caught.value).split("stayed busy for ")[1].split(" s")[0])
    assert 0.3 <= reported <= elapsed + 0.05  # the time really waited, not the setting
    holder.execute("ROLLBACK")
