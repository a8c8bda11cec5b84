"""Backends: where deployments, pools and runs are stored. `get_backend()` picks one."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from flowplan.backends.protocol import Backend
from flowplan.errors import ObjectNotFound, UsageError

_LOCAL: dict[str, Backend] = {}


def get_backend() -> Backend:
    """The backend chosen by the environment: the local store, unless an API URL is set.

    One backend (one open connection) per store path and process."""
    url = os.environ.get("FLOWPLAN_API_URL")
    if url:
        raise UsageError(
            f"FLOWPLAN_API_URL is set ({url}), but syncing to a Prefect server is not available"
            " in this version",
            hint="unset FLOWPLAN_API_URL to use the local store",
        )
    from flowplan.backends.local import STORE_FILE, LocalBackend
    from flowplan.backends.local.store import default_home

    path = default_home() / STORE_FILE
    key = str(path.absolute())
    if key not in _LOCAL:
        _LOCAL[key] = LocalBackend(path)
    return _LOCAL[key]


def variable_reader(backend: Backend) -> Callable[[str], Any]:
    """Variables for `{{ prefect.variables.x }}`; a missing one reads as None ("")."""

    def read(name: str) -> Any:
        try:
            return backend.read_variable(name).value
        except ObjectNotFound:
            return None

    return read
