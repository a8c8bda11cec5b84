"""The `process` worker type: each run is the flow-run engine in its own process group, in
`working_dir` or a temporary directory. Runs are forked from a fork server that has the
engine's imports done; runs with their own `command`, or with `PYTHON*` variables in their
environment (they matter at interpreter start), start as a new interpreter instead, and so do
all runs when the fork server refuses to fork (it had threads running).

A run's environment is what Prefect's process worker gives: the worker's own environment,
then the job's `env` (a null value removes a variable), then the run's id."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flowplan.domain.job_config import WorkPoolJobConfiguration
from flowplan.domain.objects import FlowRun
from flowplan.runtime.forkserver import Forked, ForkRefused, ForkServer
from flowplan.runtime.infrastructure import Exit, RunHandle
from flowplan.runtime.infrastructure.pipes import Pipe, end_group, signal_group

ENGINE = [sys.executable, "-m", "flowplan.runtime.engine"]


@dataclass
class ProcessJobConfiguration:
    """What a process run is started from (the pool's job template with the job variables)."""

    command: list[str] | None
    env: dict[str, str | None]
    working_dir: str | None

    @classmethod
    def from_config(cls, config: WorkPoolJobConfiguration) -> ProcessJobConfiguration:
        command = shlex.split(config.command) if config.command else None
        return cls(command, dict(config.env), config.working_dir)


@dataclass
class ProcessHandle:
    """A run's process group (its leader's pid is the group's id)."""

    pid: int
    output: Pipe
    temporary: str | None
    waiter: Any  # () -> Exit | None, with a timeout
    _released: bool = field(default=False)

    @property
    def id(self) -> str:
        return f"process {self.pid}"

    def lines(self) -> Iterator[str]:
        return self.output.lines()

    def wait(self, timeout: float | None = None) -> Exit | None:
        result: Exit | None = self.waiter(timeout)
        return result

    def terminate(self, grace: float) -> None:
        if signal_group(self.pid, signal.SIGTERM) and self.wait(grace) is None:
            self.kill()

    def end_leftovers(self, grace: float) -> None:
        end_group(self.pid, grace)

    def leftovers(self) -> bool:
        return signal_group(self.pid, 0)

    def kill(self) -> None:
        signal_group(self.pid, signal.SIGKILL)

    def release(self) -> None:
        self.output.close()
        if self.temporary and not self._released:
            shutil.rmtree(self.temporary, ignore_errors=True)
        self._released = True


class ProcessInfrastructure:
    pool_type = "process"

    def __init__(self) -> None:
        self._server: ForkServer | None = None
        self._lock = threading.Lock()
        self.refused = ""  # why the fork server refused to fork, once it did
        self._closed = False
        self.say: Callable[[str], None] = lambda text: None
        self._worker_environment: dict[str, str] | None = None

    def prepare(self, say: Callable[[str], None]) -> None:
        self.say = say
        self._fork_server()

    def environment(self, run: FlowRun, config: WorkPoolJobConfiguration) -> dict[str, str]:
        # the worker's environment, read at its first run: `os.environ` decodes each variable
        # every time it is read (a third of the Python calls the worker made for each run)
        if self._worker_environment is None:
            self._worker_environment = dict(os.environ)
        env = {**self._worker_environment, **config.env}
        env.update(FLOWPLAN_FLOW_RUN_ID=run.id, PREFECT__FLOW_RUN_ID=run.id)
        return {key: value for key, value in env.items() if value is not None}

    def launch(
        self, run: FlowRun, config: WorkPoolJobConfiguration, env: Mapping[str, str]
    ) -> RunHandle:
        job = ProcessJobConfiguration.from_config(config)
        cwd = job.working_dir or tempfile.mkdtemp(prefix="flowplan-run-")
        temporary = None if job.working_dir else cwd  # removed when the run is released
        try:
            return self._start(run, job, env, cwd, temporary)
        except BaseException:  # no run to release: its directory goes now
            if temporary:
                shutil.rmtree(temporary, ignore_errors=True)
            raise

    def _start(
        self,
        run: FlowRun,
        job: ProcessJobConfiguration,
        env: Mapping[str, str],
        cwd: str,
        temporary: str | None,
    ) -> RunHandle:
        if not job.command and not any(key.startswith("PYTHON") for key in job.env):
            try:
                return self._fork(run, env, cwd, temporary)
            except ForkRefused as exc:
                if not self.refused:
                    self.say(f"The fork server cannot fork ({exc}): runs start as new"
                             " interpreters, which is slower.")  # fmt: skip
                self.refused = str(exc)
        return self._spawn(job.command or [*ENGINE, run.id], env, cwd, temporary)

    def _fork(
        self, run: FlowRun, env: Mapping[str, str], cwd: str, temporary: str | None
    ) -> RunHandle:
        server = self._fork_server()
        pid, output = server.fork(run.id, env, cwd)
        forked = Forked()
        server.follow(pid, forked)

        def waiter(timeout: float | None) -> Exit | None:
            return forked.exit if forked.done.wait(timeout) else None

        return ProcessHandle(pid, Pipe(output), temporary, waiter)

    def _spawn(
        self, argv: list[str], env: Mapping[str, str], cwd: str, temporary: str | None
    ) -> RunHandle:
        output_read, output_write = os.pipe()
        try:
            process = subprocess.Popen(
                argv, cwd=cwd, env=dict(env), stdout=output_write, stderr=output_write,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        except BaseException:
            os.close(output_read)
            raise
        finally:
            os.close(output_write)

        def waiter(timeout: float | None) -> Exit | None:
            try:
                return Exit(process.wait(timeout))
            except subprocess.TimeoutExpired:
                return None

        return ProcessHandle(process.pid, Pipe(output_read), temporary, waiter)

    def _fork_server(self) -> ForkServer:
        with self._lock:
            if self._server is None or not self._server.alive:
                self._server = ForkServer([*ENGINE, "--fork-server"], self._restart)
            return self._server

    def _restart(self, why: str) -> None:
        if self._closed:
            return
        self.say(f"The fork server died{why.partition('died')[2].partition(';')[0]}:"
                 " its runs are marked crashed; starting a new one.")  # fmt: skip
        self._fork_server()

    def reap(self, crashed: Callable[[Sequence[str]], Collection[str]]) -> None:
        """Nothing to do: a run whose worker died stops by itself (its channel closed)."""

    def close(self) -> None:
        with self._lock:
            self._closed = True
            server, self._server = self._server, None
        if server is not None:
            server.close()
