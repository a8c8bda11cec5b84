"""A throwaway PostgreSQL cluster for the tests: Debian's `postgresql` server binaries (installed
by `make test` when missing), a new cluster in its own directory listening only on a free
127.0.0.1 port, run as an unprivileged user (PostgreSQL refuses to run as root: when the tests
run as root, as `nobody`), stopped and removed afterwards. It fails loudly when it cannot
start."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.servers import free_port


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str

    def url(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database}"


def server_binaries() -> Path:
    """The newest installed PostgreSQL's bin directory (Debian keeps them off PATH)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=_version)
    if not found:
        on_path = shutil.which("postgres")
        if on_path is None:
            raise RuntimeError(
                "PostgreSQL's server is not installed (make test installs Debian's postgresql)"
            )
        return Path(on_path).parent
    return found[-1].parent


def _version(path: Path) -> int:
    part = path.parent.parent.name
    return int(part) if part.isdigit() else 0


def _as_user() -> tuple[str, Callable[[], None] | None]:
    """Who runs the cluster: this user, or `nobody` when this is root."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name, None
    entry = pwd.getpwnam("nobody")

    def drop() -> None:
        os.setgid(entry.pw_gid)
        os.setgroups([])
        os.setuid(entry.pw_uid)

    return entry.pw_name, drop


@contextmanager
def postgres_cluster() -> Iterator[Postgres]:
    binaries = server_binaries()
    user, drop = _as_user()
    # not under pytest's tmp dir: that is private to the user running the tests (0700)
    base = Path(tempfile.mkdtemp(prefix="flowplan-pg-"))
    data, log = base / "data", base / "postgres.log"
    if drop is not None:
        base.chmod(0o755)
        entry = pwd.getpwnam(user)
        os.chown(base, entry.pw_uid, entry.pw_gid)
    env = {**os.environ, "LC_ALL": "C.UTF-8", "TZ": "UTC"}
    port = free_port()
    try:
        initdb = subprocess.run(
            [str(binaries / "initdb"), "-D", str(data), "-U", user, "--auth=trust",
             "--encoding=UTF8", "--no-sync"],
            env=env, capture_output=True, text=True, preexec_fn=drop, timeout=120,
        )  # fmt: skip
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{initdb.stdout}{initdb.stderr}")
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=200"
        )
        started = subprocess.run(
            [str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
             "-w", "-t", "60", "start"],
            env=env, capture_output=True, text=True, preexec_fn=drop, timeout=90,
        )  # fmt: skip
        if started.returncode != 0:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start:\n{started.stderr}{tail}")
        try:
            yield Postgres("127.0.0.1", port, user)
        finally:
            subprocess.run(
                [str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                env=env, capture_output=True, preexec_fn=drop, timeout=60,
            )  # fmt: skip
    finally:
        shutil.rmtree(base, ignore_errors=True)


def create_database(server: Postgres, name: str) -> None:
    binaries = server_binaries()
    made = subprocess.run(
        [str(binaries / "createdb"), "-h", server.host, "-p", str(server.port), "-U",
         server.user, name],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if made.returncode != 0:
        raise RuntimeError(f"createdb {name} failed: {made.stderr}")
