"""Backends: where deployments, pools and runs are stored. `get_backend()` picks one from the
environment: a Prefect server when an API URL is set (`--api-url`, `FLOWPLAN_API_URL`, then
`PREFECT_API_URL`), else the local store. Each call opens its own (opening is cheap: 0.2 ms
for the store), so there is no process-wide connection to reset."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from flowplan.backends.protocol import Backend, RuntimeBackend
from flowplan.domain.objects import Variable
from flowplan.errors import ObjectNotFound


def _local(location: str, env: Mapping[str, str]) -> Backend:
    from pathlib import Path

    from flowplan.backends.local import LocalBackend

    return LocalBackend(Path(location))


def _prefect(location: str, env: Mapping[str, str]) -> Backend:
    from flowplan.backends.prefect import PrefectBackend
    from flowplan.errors import UsageError

    problem = url_problem(location)
    if problem:
        raise UsageError(
            f"the Prefect API URL {location!r} {problem}",
            hint="check --api-url, FLOWPLAN_API_URL or PREFECT_API_URL; e.g."
            " http://127.0.0.1:4200/api",
        )
    width = env.get("FLOWPLAN_WRITE_CONCURRENCY") or "8"
    if not width.isdigit() or int(width) < 1:
        raise UsageError(f"FLOWPLAN_WRITE_CONCURRENCY must be a whole number >= 1, got {width!r}")
    return PrefectBackend(
        location, api_key=env.get("PREFECT_API_KEY") or None, write_concurrency=int(width)
    )


def url_problem(url: str) -> str | None:
    """None for an http(s) URL with a host, else what is wrong with it."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        return "is not a URL (its port must be a number)"
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if not parts.hostname:
        return "has no host"
    return None


BACKENDS: dict[str, Callable[[str, Mapping[str, str]], Backend]] = {
    "local": _local,
    "prefect": _prefect,
}


def chosen(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(kind, location) of the backend the environment selects."""
    env = os.environ if env is None else env
    url = env.get("FLOWPLAN_API_URL") or env.get("PREFECT_API_URL")
    if url:
        return "prefect", url
    from flowplan.backends.local import STORE_FILE
    from flowplan.backends.local.store import default_home

    return "local", str(default_home() / STORE_FILE)


def get_backend(env: Mapping[str, str] | None = None) -> Backend:
    env = os.environ if env is None else env
    kind, location = chosen(env)
    return BACKENDS[kind](location, env)


def runtime_backend(backend: Backend, pool: str = "<pool>") -> RuntimeBackend:
    """`backend` when it can serve flowplan's embedded runtime (the local store); a Prefect API
    is refused before anything is sent to it: Prefect's own workers run its flows."""
    if isinstance(backend, RuntimeBackend):
        return backend
    from flowplan.errors import UsageError

    raise UsageError(
        f"flowplan's worker runs flows from the local store; the target is {backend.target},"
        " whose runs are handed out by the server to Prefect's workers",
        hint=f"run 'prefect worker start --pool {pool}' against that server",
    )


class _Variables(Protocol):
    def read_variable(self, name: str) -> Variable: ...


def variable_reader(backend: _Variables) -> Callable[[str], Any]:
    """Variables for `{{ prefect.variables.x }}`; a missing one reads as None ("")."""

    def read(name: str) -> Any:
        try:
            return backend.read_variable(name).value
        except ObjectNotFound:
            return None

    return read
