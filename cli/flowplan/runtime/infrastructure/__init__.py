"""Worker types: each one starts a flow run on its infrastructure (a process, a container) and
hands the worker a `RunHandle` to follow and stop it.

Adding a type is one module here, with a class implementing `Infrastructure`, plus one line
in `REGISTRY`. A worker serves only pools of its own type (`Infrastructure.pool_type`).
"""

from __future__ import annotations

import importlib
import signal
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from flowplan.domain.job_config import WorkPoolJobConfiguration
from flowplan.domain.objects import FlowRun
from flowplan.errors import UsageError


@dataclass(frozen=True)
class Exit:
    """How a run's process ended: its exit status (negative: killed by that signal), or the
    reason the infrastructure knows better than a status (its fork server died, ...)."""

    code: int
    reason: str | None = None

    def describe(self) -> str:
        if self.reason:
            return self.reason
        if self.code < 0:
            try:
                name = signal.Signals(-self.code).name
            except ValueError:
                name = str(-self.code)
            return f"Process was killed by signal {name}"
        return f"Process exited with status code {self.code}"


class RunHandle(Protocol):
    """One started run: its output, its end, and ways to stop it and what it left behind."""

    @property
    def id(self) -> str:
        """What the worker names it by (`process 1234`)."""
        ...

    def lines(self) -> Iterator[str]:
        """Its output, line by line, until the output ends or `release()` is called."""
        ...

    def wait(self, timeout: float | None = None) -> Exit | None:
        """Its exit once the run's own process ended (None if still running at `timeout`)."""
        ...

    def terminate(self, grace: float) -> None:
        """Ask the whole run to stop (SIGTERM to its process group), then kill it after
        `grace` seconds if it has not ended."""
        ...

    def end_leftovers(self, grace: float) -> None:
        """After the run's process ended: stop whatever it started that still runs (SIGTERM,
        then SIGKILL after `grace` seconds)."""
        ...

    def leftovers(self) -> bool:
        """After the run's process ended: whether anything it started still runs (when
        nothing does, `end_leftovers` has nothing to do)."""
        ...

    def kill(self) -> None: ...
    def release(self) -> None:
        """Stop reading its output; remove what the run's start made (a temporary
        directory)."""
        ...


class Infrastructure(Protocol):
    pool_type: str  # the work pool type this worker type serves

    def prepare(self, say: Callable[[str], None]) -> None:
        """Called once when the worker starts (a place to warm up); `say` reaches its output."""
        ...

    def environment(self, run: FlowRun, config: WorkPoolJobConfiguration) -> dict[str, str]:
        """The environment a run gets."""
        ...

    def launch(
        self, run: FlowRun, config: WorkPoolJobConfiguration, env: Mapping[str, str]
    ) -> RunHandle: ...
    def reap(self, crashed: Callable[[Sequence[str]], Collection[str]]) -> None:
        """Remove what runs that ended CRASHED left on the infrastructure (a dead worker's
        containers); `crashed(ids)` says which of the given runs did. Called when the worker
        starts and after each crash-detection pass."""
        ...

    def close(self) -> None: ...


REGISTRY = {
    "process": "flowplan.runtime.infrastructure.process:ProcessInfrastructure",
    "docker": "flowplan.runtime.infrastructure.docker:DockerInfrastructure",
}


def available() -> list[str]:
    return sorted(REGISTRY)


def worker_hint(pool_name: str, pool_type: str, *, embedded: bool = True) -> str:
    """How to start a worker that can really serve this pool: flowplan's worker of the pool's
    type on the local store, Prefect's worker on a Prefect server."""
    if not embedded:
        return f"Start a worker for it with: prefect worker start --pool '{pool_name}'"
    if pool_type in REGISTRY:
        return f"Start a worker for it with: flowplan worker start --pool '{pool_name}'"
    return (
        f"flowplan has no {pool_type!r} worker yet (worker types: {', '.join(available())}):"
        f" runs in pool {pool_name!r} wait until a worker of type {pool_type!r} polls it."
    )


def infrastructure(kind: str) -> Infrastructure:
    location = REGISTRY.get(kind)
    if location is None:
        raise UsageError(
            f"worker type {kind!r} is not available (available: {', '.join(available())})"
        )
    module, _, name = location.partition(":")
    factory = getattr(importlib.import_module(module), name)
    return factory()  # type: ignore[no-any-return]
