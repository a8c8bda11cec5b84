"""The embedded backend: an SQLite store on this machine, no server needed."""

from __future__ import annotations

from pathlib import Path

from flowplan.backends.local.automations import AutomationsMixin
from flowplan.backends.local.deployments import DeploymentsMixin
from flowplan.backends.local.events import EventsMixin
from flowplan.backends.local.keyvalue import KeyValueMixin
from flowplan.backends.local.logs import LogsMixin
from flowplan.backends.local.pools import PoolsMixin
from flowplan.backends.local.retention import RetentionMixin
from flowplan.backends.local.runs import RunsMixin
from flowplan.backends.local.schedules import SchedulesMixin
from flowplan.backends.local.store import Store, default_home
from flowplan.backends.local.watch import StoreWatch, open_watch
from flowplan.backends.local.work import WorkMixin

STORE_FILE = "flowplan.db"


class LocalBackend(
    PoolsMixin,
    DeploymentsMixin,
    SchedulesMixin,
    RunsMixin,
    LogsMixin,
    RetentionMixin,
    WorkMixin,
    KeyValueMixin,
    EventsMixin,
    AutomationsMixin,
):
    """The `Backend` protocol on a store file (default `$FLOWPLAN_HOME/flowplan.db`)."""

    atomic_batches = True  # upsert_deployments writes all of its specs or none
    write_concurrency = 1  # one writer at a time (SQLite)
    log_lag = 0.0  # a run's logs are stored before its final state

    def __init__(self, path: Path | None = None) -> None:
        self.store = Store(path or default_home() / STORE_FILE)

    @property
    def target(self) -> str:
        home = str(Path.home())
        shown = str(self.store.path.parent)
        if shown.startswith(home + "/"):
            shown = "~" + shown[len(home) :]
        return f"local store {shown}"

    def close(self) -> None:
        self.store.close()

    def watch_changes(self) -> StoreWatch | None:
        return open_watch(self.store.path)
