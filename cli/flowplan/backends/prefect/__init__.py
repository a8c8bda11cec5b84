"""The Prefect server backend: a Prefect server or Prefect Cloud over its REST API (httpx)."""

from __future__ import annotations

import threading

from flowplan.backends.prefect.deployments import DeploymentsMixin
from flowplan.backends.prefect.http import Api
from flowplan.backends.prefect.resources import ResourcesMixin
from flowplan.backends.prefect.runs import RunsMixin


class PrefectBackend(DeploymentsMixin, ResourcesMixin, RunsMixin):
    """The `Backend` protocol on `url` (such as `http://127.0.0.1:4200/api`)."""

    write_concurrency = 8  # writes apply may send at once

    def __init__(self, url: str, *, api_key: str | None = None, **options: float) -> None:
        self.api = Api(url, api_key=api_key, **options)  # type: ignore[arg-type]
        self._flows: dict[str, str] = {}
        self._flows_lock = threading.Lock()

    @property
    def target(self) -> str:
        return f"Prefect API {self.api.url}"

    def close(self) -> None:
        self.api.close()
