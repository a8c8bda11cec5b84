"""The Prefect server backend: a Prefect server or Prefect Cloud over its REST API."""

from __future__ import annotations

import threading

from flowplan.backends.prefect.deployments import DeploymentsMixin
from flowplan.backends.prefect.http import Api, Gate
from flowplan.backends.prefect.resources import ResourcesMixin
from flowplan.backends.prefect.runs import RunsMixin


class PrefectBackend(DeploymentsMixin, ResourcesMixin, RunsMixin):
    """The `Backend` protocol on `url` (such as `http://127.0.0.1:4200/api`)."""

    atomic_batches = False  # each deployment is its own write
    log_lag = 3.0  # Prefect's runs send logs in batches (every 2 s), after their final state

    def __init__(self, url: str, *, api_key: str | None = None, write_concurrency: int = 8) -> None:
        self.api = Api(url, api_key=api_key)
        self.api.gate = Gate(write_concurrency)  # fewer when the server says it is busy
        self.write_concurrency = write_concurrency  # deployments apply writes at once
        self._flows: dict[str, str] = {}
        self._cache_lock = threading.Lock()
        self._pool_templates: dict[str, dict[str, object]] = {}

    @property
    def target(self) -> str:
        return f"Prefect API {self.api.url}"

    def close(self) -> None:
        self.api.close()
