"""Real worker processes for the runtime tests, stopped (and their runs killed) afterwards."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 60) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class Workers:
    def __init__(self, home: Path, cwd: Path) -> None:
        self.home, self.cwd = home, cwd
        self.started: list[tuple[subprocess.Popen[str], Path]] = []
        # their TMPDIR, removed by `stop_all`: a worker killed with SIGKILL cannot remove its
        # channel's directory or its runs' working directories (a short path: a Unix socket's
        # may not pass 107 bytes)
        self.tmp = Path(tempfile.mkdtemp(prefix="fpw-"))

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "FLOWPLAN_HOME": str(self.home), "NO_COLOR": "1",
                "TMPDIR": str(self.tmp)}  # fmt: skip

    def start(self, *args: str, pool: str = "pool") -> subprocess.Popen[str]:
        log = self.cwd / f"worker-{len(self.started)}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "flowplan", "worker", "start", "--pool", pool, *args],
            cwd=self.cwd, env=self.env, stdout=log.open("w"), stderr=subprocess.STDOUT,
            text=True, start_new_session=True,
        )  # fmt: skip
        self.started.append((process, log))
        wait_for("the worker to start", lambda: "started on work pool" in log.read_text())
        return process

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`flowplan ARGS` against this store, run to its end."""
        return subprocess.run(
            [sys.executable, "-m", "flowplan", *args], cwd=self.cwd, env=self.env,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    def output(self, process: subprocess.Popen[str]) -> str:
        return next(log for p, log in self.started if p is process).read_text()

    def stop_all(self) -> None:
        for process, _ in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for pid in engines_of(self.home):  # runs that outlived a killed worker
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.tmp, ignore_errors=True)


def engines_of(home: Path) -> list[int]:
    """Engine processes working on the store at `home` (found by their environment)."""
    wanted = f"FLOWPLAN_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"flowplan.runtime.engine" not in (entry / "cmdline").read_bytes():
                continue
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found
