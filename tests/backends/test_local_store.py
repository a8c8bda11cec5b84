"""The SQLite store itself: file safety, versions, permissions and refusal of foreign files."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.backends.local.migrations import MIGRATIONS, SCHEMA_VERSION
from flowplan.backends.local.store import APPLICATION_ID
from flowplan.errors import StoreError, StoreFault


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_store_is_created_private_and_versioned(tmp_path: Path) -> None:
    home = tmp_path / "new" / "home"  # directories that do not exist yet
    backend = LocalBackend(home / "flowplan.db")
    backend.set_secret("token", "s3cr3t")
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for name in ("flowplan.db", "flowplan.db-wal"):
        path = home / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    connection = sqlite3.connect(home / "flowplan.db")
    assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    backend.close()


def test_a_file_that_is_not_a_database_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "flowplan.db"
    path.write_bytes(b"this is my shopping list\n" * 100)
    before = digest(path)
    with pytest.raises(StoreError, match=r"is not a flowplan store .*left untouched"):
        LocalBackend(path).read_work_pools()
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flowplan.db"]


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "flowplan.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE mine (x)")
    connection.commit()
    connection.close()
    before = digest(path)
    with pytest.raises(StoreError, match="SQLite database but not a flowplan store"):
        LocalBackend(path).read_work_pools()
    assert digest(path) == before


def test_a_store_from_a_newer_flowplan_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "flowplan.db"
    made = LocalBackend(path)
    made.read_work_pools()
    made.close()  # its last checkpoint writes the file: before the digest, not during the test
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    connection.commit()
    connection.close()
    before = digest(path)
    with pytest.raises(
        StoreError,
        match=rf"newer flowplan \(store version {SCHEMA_VERSION + 5}; .* up to version {SCHEMA_VERSION}\)",
    ):
        LocalBackend(path).read_work_pools()
    assert digest(path) == before


def test_the_cli_reports_a_bad_store_without_a_traceback(cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "h"
    home.mkdir()
    (home / "flowplan.db").write_text("not a database")
    monkeypatch.setenv("FLOWPLAN_HOME", str(home))
    result = cli("work-pool", "ls")
    assert result.code == 1
    assert result.err.startswith(f"Error: {home / 'flowplan.db'} is not a flowplan store")
    assert "Traceback" not in result.err


def test_a_store_directory_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "home").write_text("")
    with pytest.raises(StoreError, match="cannot create the store directory"):
        LocalBackend(tmp_path / "home" / "flowplan.db").read_work_pools()


# The read-only case runs in a child process that gives up root first (root ignores
# permissions); everything it needs is imported before it does.
READ_ONLY_CHILD = textwrap.dedent(
    """
    import os, sys
    from flowplan.main import main
    import flowplan.commands.variable, flowplan.commands.work_pool, flowplan.backends.local
    import difflib, sqlite3, json, typer, click
    if os.geteuid() == 0:
        os.setgid(65534)
        os.setuid(65534)
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory every user can reach (pytest's own tmp_path sits under a 0700 folder)."""
    path = Path(tempfile.mkdtemp(prefix="flowplan-ro-"))
    path.chmod(0o755)
    yield path
    for sub in path.rglob("*"):
        if sub.is_dir():
            sub.chmod(0o755)
    shutil.rmtree(path)


@pytest.mark.parametrize("existing", [False, True])
def test_a_read_only_store_directory_gives_a_clear_error(open_dir: Path, existing: bool) -> None:
    tmp_path = open_dir
    home = tmp_path / "home"
    if existing:
        backend = LocalBackend(home / "flowplan.db")
        backend.set_variable("x", 1)
        backend.close()
        (home / "flowplan.db").chmod(0o644)
    home.mkdir(exist_ok=True)
    tmp_path.chmod(0o755)
    home.chmod(0o555)
    env = {**os.environ, "FLOWPLAN_HOME": str(home), "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-c", READ_ONLY_CHILD, "variable", "set", "y", "2"],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert f"Error: cannot {'write to' if existing else 'create'} the store {home}" in done.stderr
    assert "FLOWPLAN_HOME" in done.stderr


def test_without_flowplan_home_the_store_is_in_the_users_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("FLOWPLAN_HOME", "")  # empty counts as unset
    backend = LocalBackend()
    backend.set_variable("x", 1)
    backend.close()
    assert (tmp_path / ".flowplan" / "flowplan.db").is_file()


def test_a_closed_backend_lets_go_of_the_file_and_opens_it_again_on_next_use(
    tmp_path: Path,
) -> None:
    path = tmp_path / "flowplan.db"
    backend = LocalBackend(path)
    backend.set_variable("x", 1)
    assert path.with_name("flowplan.db-wal").exists()
    backend.close()
    assert not path.with_name("flowplan.db-wal").exists()  # the last connection checkpointed
    backend.set_variable("y", 2)
    assert sorted(v.name for v in backend.read_variables()) == ["x", "y"]
    backend.close()


def test_a_store_that_cannot_be_created_says_why_and_leaves_nothing_behind(
    tmp_path: Path,
) -> None:
    # a name the file system takes, but not with the temporary suffix added while creating it
    path = tmp_path / ("s" * 250)
    with pytest.raises(StoreError) as raised:
        LocalBackend(path).read_work_pools()
    assert raised.value.message == f"cannot create the store {path}: File name too long"
    assert raised.value.hint == "set FLOWPLAN_HOME to use another directory"
    assert list(tmp_path.iterdir()) == []


def _store_in_rollback_mode(path: Path) -> sqlite3.Connection:
    """A flowplan store switched back to a rollback journal, and a writer in the middle of a
    transaction on it: switching it to WAL needs the file to itself, and SQLite says "locked" at
    once instead of waiting (so opening retries until the busy timeout)."""
    made = LocalBackend(path)
    made.read_variables()
    made.close()
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    assert connection.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"
    connection.execute("BEGIN IMMEDIATE")
    return connection


def test_opening_waits_for_a_writer_to_switch_the_store_to_wal(tmp_path: Path) -> None:
    path = tmp_path / "flowplan.db"
    holder = _store_in_rollback_mode(path)
    releasing = threading.Timer(0.3, holder.execute, ("COMMIT",))
    releasing.start()
    backend = LocalBackend(path)
    assert backend.read_variables() == []  # opened once the writer was done, not refused
    releasing.join()
    assert backend.store.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    backend.close()
    holder.close()


def test_opening_gives_up_on_a_writer_that_never_lets_go_after_the_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowplan.backends.local import store

    path = tmp_path / "flowplan.db"
    holder = _store_in_rollback_mode(path)
    # a safety net for a wait that would never end: the writer lets go long after the timeout
    releasing = threading.Timer(20, holder.execute, ("COMMIT",))
    releasing.start()
    monkeypatch.setattr(store, "BUSY_TIMEOUT_MS", 200)
    try:
        with pytest.raises(StoreError, match=r"stayed busy for \d+\.\d s"):
            LocalBackend(path).read_variables()
        assert releasing.is_alive()  # it gave up while the writer still held the file
    finally:
        releasing.cancel()
        holder.close()


class _Clock:
    """A stand-in for the store module's `time`: `monotonic` answers the given moments in turn
    (the last one from then on), `sleep` records the waits instead of waiting."""

    def __init__(self, *moments: float) -> None:
        self.moments = list(moments)
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return self.moments.pop(0) if len(self.moments) > 1 else self.moments[0]

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


def test_the_switch_to_wal_is_retried_for_the_whole_busy_timeout_and_only_while_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowplan.backends.local import store

    opened = store.Store(tmp_path / "unused.db")
    # a database that answers another mode without an error (in memory: never WAL): retried
    # until 60 s (the busy timeout) have passed, not one moment before, then "locked" (which
    # opening reports as a busy store), with waits of 5 to 30 ms between the tries
    clock = _Clock(100.0, 130.0, 140.0, 150.0, 160.0, 160.001)
    monkeypatch.setattr(store, "time", clock)
    with pytest.raises(sqlite3.OperationalError) as raised:
        opened._enable_wal(sqlite3.connect(":memory:", isolation_level=None))
    assert str(raised.value) == "database is locked"
    assert len(clock.waits) == 4
    assert all(0.005 <= wait <= 0.03 for wait in clock.waits), clock.waits

    # SQLite's own "locked" (a writer holds the file): retried the same way, then raised
    holder = _store_in_rollback_mode(tmp_path / "flowplan.db")
    try:
        clock = _Clock(100.0, 130.0, 140.0, 160.0, 160.0, 160.001)
        monkeypatch.setattr(store, "time", clock)
        waiting = sqlite3.connect(tmp_path / "flowplan.db", isolation_level=None, timeout=0)
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            opened._enable_wal(waiting)
        assert len(clock.waits) == 2
        waiting.close()
    finally:
        holder.close()

    # any other error is raised at the first try
    clock = _Clock(100.0, 100.0, 200.0)
    monkeypatch.setattr(store, "time", clock)
    other = sqlite3.connect(tmp_path / "other.db", isolation_level=None)
    other.execute("BEGIN")  # SQLite refuses to change the journal mode inside a transaction
    with pytest.raises(sqlite3.OperationalError, match="cannot change into wal mode"):
        opened._enable_wal(other)
    assert clock.waits == []
    other.close()


def test_a_busy_error_inside_a_transaction_is_reported_as_a_busy_store(tmp_path: Path) -> None:
    """SQLite says "locked" or "busy"; either way the message says what to do."""
    backend = LocalBackend(tmp_path / "flowplan.db")
    for text in ("database is locked", "database is busy"):
        busy = pytest.raises(StoreError, match=r"stayed busy .* \(another flowplan process")
        with busy, backend.store.write():
            raise sqlite3.OperationalError(text)
    other = pytest.raises(sqlite3.OperationalError, match="no such table")
    with other, backend.store.write():
        raise sqlite3.OperationalError("no such table: x")  # anything else: as it is
    backend.close()


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
def test_a_store_of_an_older_flowplan_is_migrated_keeping_what_it_holds(
    tmp_path: Path, version: int
) -> None:
    path = tmp_path / "flowplan.db"
    old = sqlite3.connect(path, isolation_level=None)
    old.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    for statement in MIGRATIONS[0]:
        old.execute(statement)
    old.execute(
        "INSERT INTO work_pools (id, name, type, created, updated)"
        " VALUES ('p1', 'old-pool', 'process', '2026-01-01T00:00:00+00:00',"
        " '2026-01-01T00:00:00+00:00')"
    )
    for steps in MIGRATIONS[1:version]:
        for statement in steps:
            old.execute(statement)
    old.execute(f"PRAGMA user_version = {version}")
    old.close()
    backend = LocalBackend(path)
    assert [pool.name for pool in backend.read_work_pools()] == ["old-pool"]
    backend.create_work_pool("new-pool", "process")  # every table of the current version
    backend.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert check.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    indexes = {row[0] for row in check.execute("SELECT name FROM sqlite_master")}
    assert "flow_runs_by_end" in indexes  # the last migration's
    check.close()


def test_an_empty_sqlite_database_becomes_a_store_but_one_with_a_version_is_refused(
    tmp_path: Path,
) -> None:
    for name, version in (("empty.db", 0), ("versioned.db", 3)):
        connection = sqlite3.connect(tmp_path / name)
        connection.execute("CREATE TABLE scratch (x)")  # the file gets pages, then no table
        connection.execute("DROP TABLE scratch")
        connection.execute(f"PRAGMA user_version = {version}")
        connection.commit()
        connection.close()
    backend = LocalBackend(tmp_path / "empty.db")
    assert backend.read_work_pools() == []
    backend.close()
    before = digest(tmp_path / "versioned.db")
    with pytest.raises(StoreError) as raised:
        LocalBackend(tmp_path / "versioned.db").read_work_pools()
    assert raised.value.message == (
        f"{tmp_path / 'versioned.db'} is an SQLite database but not a flowplan store;"
        " it was left untouched"
    )
    assert raised.value.hint == "set FLOWPLAN_HOME to use another directory"
    assert digest(tmp_path / "versioned.db") == before


def test_refusals_say_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError) as raised:
        LocalBackend(tmp_path / "dir.db").read_work_pools()
    assert raised.value.message == f"{tmp_path / 'dir.db'} is a directory, not a flowplan store"
    assert raised.value.hint == "set FLOWPLAN_HOME to use another directory"
    (tmp_path / "junk.db").write_bytes(b"junk" * 1000)
    with pytest.raises(StoreError) as raised:
        LocalBackend(tmp_path / "junk.db").read_work_pools()
    assert raised.value.message == (
        f"{tmp_path / 'junk.db'} is not a flowplan store (file is not a database);"
        " it was left untouched"
    )
    assert raised.value.hint == "set FLOWPLAN_HOME to use another directory"
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError) as raised:
        LocalBackend(tmp_path / "file" / "flowplan.db").read_work_pools()
    assert raised.value.message.startswith(
        f"cannot create the store directory {tmp_path / 'file'}: "
    )
    assert raised.value.hint == "set FLOWPLAN_HOME to use another directory"
    newer = tmp_path / "newer.db"
    made = LocalBackend(newer)
    made.read_work_pools()
    made.close()
    connection = sqlite3.connect(newer)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.commit()
    connection.close()
    with pytest.raises(StoreError) as raised:
        LocalBackend(newer).read_work_pools()
    assert raised.value.hint == "upgrade flowplan"


def test_a_store_truncated_while_open_is_a_fault_and_stays_empty(tmp_path: Path) -> None:
    path = tmp_path / "flowplan.db"
    backend = LocalBackend(path)
    backend.set_variable("x", 1)
    os.truncate(path, 0)
    with pytest.raises(StoreFault) as raised:
        backend.set_variable("y", 2)
    assert raised.value.message == (
        f"the store {path} is empty (0 bytes): it was truncated; it was left untouched"
    )
    assert raised.value.hint == (
        "restore it from a backup, or move it away to start an empty store"
    )
    assert path.stat().st_size == 0
    backend.close()


def test_a_deleted_store_says_how_to_go_on(tmp_path: Path) -> None:
    path = tmp_path / "flowplan.db"
    backend = LocalBackend(path)
    backend.set_variable("x", 1)
    path.unlink()
    with pytest.raises(StoreFault) as raised:
        backend.read_variables()
    assert raised.value.message == (
        f"the store {path} was deleted while this process was using it; nothing more was written"
    )
    assert raised.value.hint == "restore the file, or start the command again to use the new one"
    backend.close()


def test_one_backend_serves_several_threads(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "flowplan.db")
    backend.set_variable("main", 0)
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            backend.set_variable(f"t{index}", index)
        except BaseException as exc:  # the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(v.name for v in backend.read_variables()) == ["main", "t0", "t1", "t2", "t3"]
    backend.close()
