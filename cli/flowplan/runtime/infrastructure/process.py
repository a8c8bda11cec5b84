"""The `process` worker type: each run is the flow-run engine in its own process group, in
`working_dir` or a temporary directory. Runs are forked from a fork server that has the
engine's imports done; runs with their own `command`, or with `PYTHON*` variables in their
environment (they matter at interpreter start), start as a new interpreter instead."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from flowplan.domain.job_config import WorkPoolJobConfiguration
from flowplan.domain.objects import FlowRun
from flowplan.runtime.forkserver import Forked, ForkServer, kill_group
from flowplan.runtime.infrastructure import Started

ENGINE = [sys.executable, "-m", "flowplan.runtime.engine"]


@dataclass
class _Process:
    process: subprocess.Popen[str]
    temporary: str | None

    @property
    def pid(self) -> int:
        return self.process.pid

    def lines(self) -> Iterator[str]:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            yield line.rstrip("\n")

    def wait(self) -> int:
        return self.process.wait()

    def kill(self) -> None:
        kill_group(self.process.pid)


class ProcessInfrastructure:
    def __init__(self) -> None:
        self._server: ForkServer | None = None
        self._lock = threading.Lock()

    def prepare(self) -> None:
        self._fork_server()

    def start(
        self, run: FlowRun, config: WorkPoolJobConfiguration, env: Mapping[str, str]
    ) -> Started:
        temporary = None if config.working_dir else tempfile.mkdtemp(prefix="flowplan-run-")
        cwd = config.working_dir or temporary or "."
        if not config.command and not any(key.startswith("PYTHON") for key in config.env):
            server = self._fork_server()
            return server.fork(run.id, _changed(env), cwd, temporary)
        argv = shlex.split(config.command) if config.command else [*ENGINE, run.id]
        process = subprocess.Popen(
            argv, cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True, errors="replace", start_new_session=True,
        )  # fmt: skip
        return _Process(process, temporary)

    def _fork_server(self) -> ForkServer:
        with self._lock:
            if self._server is None or not self._server.alive:
                self._server = ForkServer([*ENGINE, "--fork-server"])
            return self._server

    def cleanup(self, started: Started) -> None:
        """Remove the run's temporary directory."""
        if isinstance(started, _Process | Forked) and started.temporary:
            shutil.rmtree(started.temporary, ignore_errors=True)

    def close(self) -> None:
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.close()


def _changed(env: Mapping[str, str]) -> dict[str, str]:
    """What differs from this process's environment (the fork server has that one)."""
    return {key: value for key, value in env.items() if os.environ.get(key) != value}
