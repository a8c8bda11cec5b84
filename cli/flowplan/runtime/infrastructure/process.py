"""The `process` worker type: each run is `python -m flowplan.runtime.engine RUN_ID` (or the
job's `command`) in its own process group, in `working_dir` or a temporary directory."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from flowplan.domain.job_config import WorkPoolJobConfiguration
from flowplan.domain.objects import FlowRun
from flowplan.runtime.infrastructure import Started


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
        """The whole process group: whatever the flow started goes too."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


class ProcessInfrastructure:
    def start(
        self, run: FlowRun, config: WorkPoolJobConfiguration, env: Mapping[str, str]
    ) -> Started:
        argv = (
            shlex.split(config.command)
            if config.command
            else [sys.executable, "-m", "flowplan.runtime.engine", run.id]
        )
        temporary = None if config.working_dir else tempfile.mkdtemp(prefix="flowplan-run-")
        process = subprocess.Popen(
            argv, cwd=config.working_dir or temporary, env=dict(env), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, errors="replace",
            start_new_session=True, bufsize=1,
        )  # fmt: skip
        return _Process(process, temporary)

    def cleanup(self, started: Started) -> None:
        if isinstance(started, _Process) and started.temporary:
            shutil.rmtree(started.temporary, ignore_errors=True)
