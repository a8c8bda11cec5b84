"""Worker types: each starts a flow run's process (or container) from a job configuration.
One Protocol and a registry, so the docker type can be added beside `process`."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Protocol

from flowplan.domain.job_config import WorkPoolJobConfiguration
from flowplan.domain.objects import FlowRun
from flowplan.errors import UsageError


class Started(Protocol):
    """A running flow run: its output lines, its exit code, and a way to stop it."""

    @property
    def pid(self) -> int: ...
    def lines(self) -> Iterator[str]: ...
    def wait(self) -> int: ...
    def kill(self) -> None: ...


class Infrastructure(Protocol):
    def prepare(self) -> None:
        """Called once when the worker starts (a place to warm up)."""
        ...

    def start(
        self, run: FlowRun, config: WorkPoolJobConfiguration, env: Mapping[str, str]
    ) -> Started: ...
    def cleanup(self, started: Started) -> None: ...
    def close(self) -> None: ...


REGISTRY = {"process": "flowplan.runtime.infrastructure.process:ProcessInfrastructure"}


def infrastructure(kind: str) -> Infrastructure:
    location = REGISTRY.get(kind)
    if location is None:
        known = ", ".join(sorted(REGISTRY))
        raise UsageError(f"worker type {kind!r} is not available (available: {known})")
    module, _, name = location.partition(":")
    factory = getattr(importlib.import_module(module), name)
    return factory()  # type: ignore[no-any-return]
