"""The SQLite file behind the local backend: opening, migrating, and transactions.

One `Store` per process and path. Writes use `BEGIN IMMEDIATE`, so a writer waits for the busy
timeout instead of failing halfway through a transaction when another process writes; WAL lets
readers go on meanwhile. The file is created with mode 0600 (it holds secrets). A file that is not
a flowplan store, or one written by a newer flowplan, is refused before anything is written.

Faults while in use are `StoreFault` errors that name the file: a full disk, a read-only file, a
file truncated to 0 bytes (a new store is never empty, so it is never taken for a new one), and a
file deleted or replaced since it was opened (its device and inode are checked before each
transaction, so a long-running worker never writes to a file no one else sees).
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from flowplan.backends.local.migrations import MIGRATIONS, SCHEMA_VERSION
from flowplan.errors import StoreError, StoreFault

APPLICATION_ID = 0x666C6F77  # "flow"
BUSY_TIMEOUT_MS = 60_000
_HINT = "set FLOWPLAN_HOME to use another directory"


def default_home() -> Path:
    return Path(os.environ.get("FLOWPLAN_HOME") or Path.home() / ".flowplan")


class Store:
    """A connection to `path`, opened on first use and migrated to the current version."""

    _identity: tuple[int, int]  # (device, inode) of the file opened: set by `_open`

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.RLock()

    @property
    def connection(self) -> sqlite3.Connection:
        if self._connection is None:
            self._connection = self._open()
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _checked_connection(self) -> sqlite3.Connection:
        """The connection, after checking that the file is still the one it opened: a store
        deleted or replaced meanwhile would take writes no other process ever sees."""
        if self._connection is None:
            return self.connection
        try:
            now = self.path.stat()
        except FileNotFoundError:
            now = None
        if now is None or (now.st_dev, now.st_ino) != self._identity:
            what = "deleted" if now is None else "replaced by another file"
            raise StoreFault(
                f"the store {self.path} was {what} while this process was using it;"
                " nothing more was written",
                hint="restore the file, or start the command again to use the new one",
            )
        if now.st_size == 0:
            raise StoreFault(_truncated(self.path), hint=_RESTORE)
        return self._connection

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: everything inside commits together or not at all."""
        with self._lock, self._translate():
            conn = self._checked_connection()
            with _transaction(conn, """BEGIN IMMEDIATE"""):
                yield conn
            self._announce()

    def _announce(self) -> None:
        """Tell watchers (`watch.StoreWatch`) that a transaction committed: touch the file."""
        with suppress(OSError):  # the file went meanwhile: the next transaction says so
            os.utime(self.path)

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: a consistent snapshot across several queries."""
        with self._lock, self._translate():
            conn = self._checked_connection()
            conn.execute("""BEGIN""")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("""COMMIT""")

    # -- opening -------------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StoreError(
                f"cannot create the store directory {directory}: {exc.strerror}", hint=_HINT
            ) from None
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a directory, not a flowplan store", hint=_HINT)
        if not self.path.exists():
            self._create_file()
        identity = self.path.stat()
        if identity.st_size == 0:  # a new store is never empty (see _create_file)
            raise StoreFault(_truncated(self.path), hint=_RESTORE)
        self._identity = (identity.st_dev, identity.st_ino)
        with self._translate():
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            try:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                conn.execute("""PRAGMA foreign_keys = ON""")
                with _transaction(conn, """BEGIN"""):  # one consistent read of the header
                    self._check(conn)
                self._enable_wal(conn)
                conn.execute("""PRAGMA synchronous = NORMAL""")
                self._migrate(conn)
            except BaseException:
                conn.close()
                raise
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """Switch to WAL. The switch needs the file to itself and SQLite does not wait for that
        (no busy handler), so processes that open a new store together retry it."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                if conn.execute("""PRAGMA journal_mode""").fetchone()[0] == "wal":
                    return
                if conn.execute("""PRAGMA journal_mode = WAL""").fetchone()[0] == "wal":
                    return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise
            if time.monotonic() > deadline:
                raise sqlite3.OperationalError("database is locked")
            time.sleep(random.uniform(0.005, 0.03))

    def _create_file(self) -> None:
        """A new store: its header written under a temporary name, then linked into place
        (migrating it is left to `_open`, under the write lock). So a store is never an empty
        file, and an empty file is a truncated store, never a new one."""
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.{random.random():.9f}")
        created = False  # only then is there anything to clean up (or to look for)
        try:
            fd = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            created = True
            os.close(fd)
            with self._translate():
                conn = sqlite3.connect(temporary, isolation_level=None)
                try:
                    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")  # page 1
                finally:
                    conn.close()
            os.link(temporary, self.path)
        except FileExistsError:
            pass  # another process created it first
        except OSError as exc:
            raise StoreError(
                f"cannot create the store {self.path}: {exc.strerror}", hint=_HINT
            ) from None
        finally:
            if created:
                for leftover in (temporary, *temporary.parent.glob(f"{temporary.name}-*")):
                    leftover.unlink(missing_ok=True)

    def _check(self, conn: sqlite3.Connection) -> None:
        """Refuse a file that is not ours, or is newer than this flowplan, without writing."""
        try:
            version = conn.execute("""PRAGMA user_version""").fetchone()[0]
            application = conn.execute("""PRAGMA application_id""").fetchone()[0]
            tables = conn.execute("""SELECT count(*) FROM sqlite_master""").fetchone()[0]
        except sqlite3.OperationalError:
            raise  # locked, read-only, cannot open: not a verdict on the file's contents
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.path} is not a flowplan store ({exc}); it was left untouched", hint=_HINT
            ) from None
        if application != APPLICATION_ID and (tables or version):
            raise StoreError(
                f"{self.path} is an SQLite database but not a flowplan store;"
                " it was left untouched",
                hint=_HINT,
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer flowplan (store version {version}; this "
                f"flowplan reads up to version {SCHEMA_VERSION}); it was left untouched",
                hint="upgrade flowplan",
            )

    def _migrate(self, conn: sqlite3.Connection) -> None:
        if conn.execute("""PRAGMA user_version""").fetchone()[0] == SCHEMA_VERSION:
            return
        with _transaction(conn, """BEGIN IMMEDIATE"""):
            self._check(conn)  # again under the write lock: another process may have been first
            version = conn.execute("""PRAGMA user_version""").fetchone()[0]
            for steps in MIGRATIONS[version:]:
                for statement in steps:
                    conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _translate(self) -> Iterator[None]:
        """SQLite's operational errors, as messages that say what to do."""
        started = time.monotonic()
        try:
            yield
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "full" in text:
                raise StoreFault(
                    f"the store {self.path} cannot grow: {text} (free space on its disk)",
                    hint=_HINT,
                ) from None
            if "readonly" in text or "unable to open" in text or "disk I/O" in text:
                raise StoreFault(
                    f"cannot write to the store {self.path}: {text} (check that its directory "
                    "is writable)",
                    hint=_HINT,
                ) from None
            if _is_busy(exc):
                waited = time.monotonic() - started
                raise StoreError(
                    f"the store {self.path} stayed busy for {waited:.1f} s "
                    "(another flowplan process holds a long write)",
                ) from None
            raise


_RESTORE = "restore it from a backup, or move it away to start an empty store"


def _truncated(path: Path) -> str:
    return f"the store {path} is empty (0 bytes): it was truncated; it was left untouched"


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


@contextmanager
def _transaction(conn: sqlite3.Connection, begin: str) -> Iterator[None]:
    conn.execute(begin)
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("""ROLLBACK""")
        raise
    conn.execute("""COMMIT""")
