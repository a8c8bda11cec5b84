"""The store's own faults are clear errors (exit 1) that name the file, and never leave the
store half written: a full disk, a read-only store, a store truncated to 0 bytes, a store
deleted or replaced under a running worker (which then stops, leaving no run running)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from flowplan.backends.local import STORE_FILE, LocalBackend
from flowplan.domain.clock import utcnow
from flowplan.domain.specs import DeploymentSpec
from flowplan.errors import StoreFault
from tests.conftest import Result
from tests.integration.workers import wait_for

Cli = Callable[..., Result]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / ".flowplan-home"


def test_a_full_disk_is_a_store_fault_and_the_write_is_rolled_back(home: Path) -> None:
    backend = LocalBackend(home / STORE_FILE)
    backend.create_work_pool("local", "process")
    conn = backend.store.connection
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "disk is full"
    specs = [
        DeploymentSpec("f", f"d{i}", description="x" * 4000, work_pool_name="local")
        for i in range(50)
    ]
    with pytest.raises(StoreFault) as raised:
        backend.upsert_deployments(specs)
    assert str(raised.value).startswith(
        f"the store {home / STORE_FILE} cannot grow: database or disk is full"
    )
    assert backend.read_deployments() == []  # all or nothing
    assert [pool.name for pool in backend.read_work_pools()] == ["local"]


def test_a_read_only_store_is_a_store_fault_naming_the_file(home: Path) -> None:
    backend = LocalBackend(home / STORE_FILE)
    backend.create_work_pool("local", "process")
    backend.store.connection.execute("PRAGMA query_only = 1")  # root ignores file modes
    with pytest.raises(StoreFault, match=f"cannot write to the store {home / STORE_FILE}"):
        backend.create_work_pool("other", "process")


def test_a_truncated_store_is_refused_not_made_new(cli: Cli, home: Path) -> None:
    assert cli("work-pool", "create", "local", "--type", "process").code == 0
    store = home / STORE_FILE
    store.write_bytes(b"")
    for args in (("work-pool", "ls"), ("work-pool", "create", "p", "--type", "process")):
        result = cli(*args)
        assert result.code == 1, result
        assert result.err.splitlines()[-1] == (
            f"Error: the store {store} is empty (0 bytes): it was truncated; it was left"
            " untouched (restore it from a backup, or move it away to start an empty store)"
        )
    assert store.stat().st_size == 0
    store.unlink()  # the fix it names: a new store
    assert cli("work-pool", "ls").code == 0
    assert store.stat().st_size > 0


def test_a_new_store_is_never_an_empty_file(home: Path) -> None:
    LocalBackend(home / STORE_FILE).read_work_pools()
    assert (home / STORE_FILE).stat().st_size > 0
    assert sorted(p.name for p in home.iterdir()) == [STORE_FILE, *(
        name for name in (f"{STORE_FILE}-shm", f"{STORE_FILE}-wal")
        if (home / name).exists()
    )]  # fmt: skip


def test_a_store_replaced_under_an_open_backend_is_never_written(home: Path) -> None:
    backend = LocalBackend(home / STORE_FILE)
    backend.create_work_pool("local", "process")
    replacement = home / "copy.db"
    with sqlite3.connect(home / STORE_FILE) as source, sqlite3.connect(replacement) as copy:
        source.backup(copy)
    replacement.replace(home / STORE_FILE)
    with pytest.raises(StoreFault, match="was replaced by another file while this process"):
        backend.create_work_pool("other", "process")
    (home / STORE_FILE).unlink()
    with pytest.raises(StoreFault, match="was deleted while this process was using it"):
        backend.read_work_pools()


SLOW = """
import time
from flowplan import flow

@flow
def slow():
    time.sleep(300)
"""


@pytest.mark.parametrize("fault", ["deleted", "replaced"])
def test_a_worker_stops_when_its_store_is_deleted_or_replaced(
    tmp_path: Path, home: Path, fault: str
) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "slow.py").write_text(textwrap.dedent(SLOW))
    backend = LocalBackend(home / STORE_FILE)
    backend.create_work_pool("local", "process")
    backend.upsert_deployments([DeploymentSpec(
        "slow", "s", entrypoint="flows/slow.py:slow", path=str(tmp_path), work_pool_name="local",
    )])  # fmt: skip
    run = backend.create_flow_run("slow/s")
    env = {**os.environ, "FLOWPLAN_HOME": str(home), "NO_COLOR": "1"}
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "flowplan", "worker", "start", "--pool", "local"],
        cwd=tmp_path, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_for("the run to start", lambda: "started, process" in log.read_text())
        pid = int(log.read_text().split("started, process ")[1].split(".")[0])
        if fault == "deleted":
            (home / STORE_FILE).unlink()
        else:
            copy = home / "copy.db"
            with sqlite3.connect(home / STORE_FILE) as source, sqlite3.connect(copy) as target:
                source.backup(target)
            copy.replace(home / STORE_FILE)
        assert worker.wait(timeout=60) == 1
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    output = log.read_text()
    # a deleted store may be made new meanwhile (by the run's own process): replaced, then
    words = ("deleted", "replaced by another file") if fault == "deleted" else ("replaced",)
    assert any(f"Error: the store {home / STORE_FILE} was {word}" in output for word in words), (
        output
    )
    assert "Stopping: the store failed" in output
    wait_for("the run's process to end", lambda: not _alive(pid))
    if fault == "replaced":  # the copy may still say RUNNING: the missed heartbeats tell
        after = LocalBackend(home / STORE_FILE)
        after.crash_orphaned_runs(now=utcnow() + timedelta(minutes=5))
        assert after.read_flow_run(run.id).state.type.is_final


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[1][0] != "Z"  # a zombie has ended
