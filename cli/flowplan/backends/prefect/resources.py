"""Work pools, queues, variables, secrets (Secret blocks) and leases on a Prefect server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from flowplan.backends.prefect import convert
from flowplan.backends.prefect.http import Api
from flowplan.domain.names import (
    check_key_name,
    check_variable_value,
)
from flowplan.domain.objects import Deployment, Lease, SecretInfo, Variable, WorkPool, WorkQueue
from flowplan.domain.pool_rules import (
    check_new_queue,
    check_queue_changes,
    new_pool_template,
    pool_changes,
    pool_in_use,
)
from flowplan.domain.values import secret_value
from flowplan.errors import FlowplanError, InvalidInput, ObjectAlreadyExists, ObjectNotFound

LEASE_PREFIX = (
    "flowplan_lease_"  # a lease is a Prefect variable holding {holder, acquired, expires}
)


def _q(name: str) -> str:
    return quote(name, safe="")


class ResourcesMixin:
    api: Api
    _pool_templates: dict[str, Any]
    read_deployments: Callable[..., list[Deployment]]

    # -- work pools --------------------------------------------------------------------------

    def create_work_pool(
        self,
        name: str,
        type: str,
        *,
        description: str | None = None,
        base_job_template: Mapping[str, Any] | None = None,
        concurrency_limit: int | None = None,
        is_paused: bool = False,
    ) -> WorkPool:
        template = new_pool_template(name, type, base_job_template, concurrency_limit)
        body = {"name": name, "type": type, "description": description,
                "base_job_template": template, "is_paused": is_paused,
                "concurrency_limit": concurrency_limit}  # fmt: skip
        self._pool_templates = {}
        try:
            return convert.work_pool(self.api.post("work_pools/", body))
        except ObjectAlreadyExists:
            raise ObjectAlreadyExists(
                f"a work pool named {name!r} already exists",
                hint="use 'work-pool update' or 'work-pool create --overwrite'",
            ) from None

    def read_work_pool(self, name: str) -> WorkPool:
        try:
            return convert.work_pool(self.api.get(f"work_pools/{_q(name)}"))
        except ObjectNotFound:
            known = [pool.name for pool in self.read_work_pools()]
            raise ObjectNotFound.named("work pool", name, known) from None

    def read_work_pools(self) -> list[WorkPool]:
        found = [convert.work_pool(item) for item in self.api.filter("work_pools/filter")]
        return sorted(found, key=lambda pool: pool.name)

    def update_work_pool(self, name: str, changes: Mapping[str, Any]) -> WorkPool:
        body = pool_changes(changes)
        self.read_work_pool(name)
        self._pool_templates = {}
        if body:
            self.api.patch(f"work_pools/{_q(name)}", body)
        return self.read_work_pool(name)

    def delete_work_pool(self, name: str, *, force: bool = False) -> None:
        self.read_work_pool(name)
        users = [d.full_name for d in self.read_deployments(work_pool_name=name)]
        if users and not force:
            raise pool_in_use(name, users)
        self._pool_templates = {}
        self.api.delete(f"work_pools/{_q(name)}")

    def worker_heartbeat(self, pool: str, worker: str, heartbeat_interval: float = 30) -> None:
        self.api.post(f"work_pools/{_q(pool)}/workers/heartbeat",
                      {"name": worker, "heartbeat_interval_seconds": heartbeat_interval},
                      idempotent=True)  # fmt: skip

    # -- queues ------------------------------------------------------------------------------

    def create_work_queue(
        self,
        pool: str,
        name: str,
        *,
        description: str | None = None,
        is_paused: bool = False,
        concurrency_limit: int | None = None,
        priority: int | None = None,
    ) -> WorkQueue:
        check_new_queue(name, concurrency_limit, priority)
        self.read_work_pool(pool)
        body = {"name": name, "description": description or "", "is_paused": is_paused,
                "concurrency_limit": concurrency_limit, "priority": priority}  # fmt: skip
        try:
            return convert.work_queue(self.api.post(f"work_pools/{_q(pool)}/queues", body), pool)
        except ObjectAlreadyExists:
            raise ObjectAlreadyExists(
                f"work pool {pool!r} already has a queue named {name!r}"
            ) from None

    def read_work_queue(self, pool: str, name: str) -> WorkQueue:
        self.read_work_pool(pool)
        try:
            return convert.work_queue(self.api.get(f"work_pools/{_q(pool)}/queues/{_q(name)}"),
                                      pool)  # fmt: skip
        except ObjectNotFound:
            known = [queue.name for queue in self.read_work_queues(pool)]
            raise ObjectNotFound.named("work queue", name, known, f" in pool {pool!r}") from None

    def read_work_queues(self, pool: str | None = None) -> list[WorkQueue]:
        if pool is None:
            found = [convert.work_queue(item) for item in self.api.filter("work_queues/filter")]
            found = [queue for queue in found if queue.work_pool_name]
        else:
            self.read_work_pool(pool)
            path = f"work_pools/{_q(pool)}/queues/filter"
            found = [convert.work_queue(item, pool) for item in self.api.filter(path)]
        return sorted(found, key=lambda q: (q.work_pool_name, q.priority, q.name))

    def update_work_queue(self, pool: str, name: str, changes: Mapping[str, Any]) -> WorkQueue:
        check_queue_changes(changes)
        self.read_work_queue(pool, name)
        if changes:
            self.api.patch(f"work_pools/{_q(pool)}/queues/{_q(name)}", dict(changes))
        return self.read_work_queue(pool, name)

    def delete_work_queue(self, pool: str, name: str) -> None:
        queue = self.read_work_queue(pool, name)
        if queue.id == self.read_work_pool(pool).default_queue_id:
            raise InvalidInput(f"{name!r} is the default queue of {pool!r} and cannot be deleted")
        for deployment in self.read_deployments(work_pool_name=pool):
            if deployment.work_queue_name == name:  # as the local store does: to the default
                self.api.patch(f"deployments/{deployment.id}", {"work_queue_name": "default"})
        self.api.delete(f"work_pools/{_q(pool)}/queues/{_q(name)}")

    def mark_polled(self, pool: str, queues: Iterable[str] = ()) -> None:
        body: dict[str, Any] = {"limit": 0}
        if queues:
            body["work_queue_names"] = list(queues)
        self.api.post(f"work_pools/{_q(pool)}/get_scheduled_flow_runs", body, idempotent=True)

    # -- variables ---------------------------------------------------------------------------

    def set_variable(
        self, name: str, value: Any, *, tags: Iterable[str] = (), overwrite: bool = False
    ) -> Variable:
        check_key_name("variable", name)
        check_variable_value(name, value)
        body = {"name": name, "value": value, "tags": list(tags)}
        try:
            return convert.variable(self.api.post("variables/", body))
        except ObjectAlreadyExists:
            if not overwrite:
                raise ObjectAlreadyExists(
                    f"variable {name!r} already exists", hint="pass --overwrite to replace it"
                ) from None
        self.api.patch(f"variables/name/{_q(name)}", {"value": value, "tags": list(tags)})
        return self.read_variable(name)

    def read_variable(self, name: str) -> Variable:
        try:
            return convert.variable(self.api.get(f"variables/name/{_q(name)}"))
        except ObjectNotFound:
            known = [v.name for v in self.read_variables()]
            raise ObjectNotFound.named("variable", name, known) from None

    def read_variables(self) -> list[Variable]:
        found = [convert.variable(item) for item in self.api.filter("variables/filter")]
        return sorted((v for v in found if not v.name.startswith(LEASE_PREFIX)),
                      key=lambda v: v.name)  # fmt: skip

    def delete_variable(self, name: str) -> None:
        self.read_variable(name)
        self.api.delete(f"variables/name/{_q(name)}")

    # -- secrets: Prefect Secret blocks (what `{{ prefect.blocks.secret.x }}` reads) -----------

    def _secret_ids(self) -> tuple[str, str]:
        block_type = self.api.get("block_types/slug/secret")
        schemas = self.api.post(
            "block_schemas/filter",
            {"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}, "limit": 1},
            idempotent=True,
        )
        if not schemas:
            raise FlowplanError("the Prefect server has no schema for Secret blocks")
        return str(block_type["id"]), str(schemas[0]["id"])

    def set_secret(self, name: str, value: str, *, overwrite: bool = False) -> SecretInfo:
        """A Secret block; a JSON object is stored as one, so that Prefect's own runs read its
        fields (`{{ prefect.blocks.secret.NAME.field }}`, `Secret.load(NAME).get()["field"]`)
        as flowplan's do."""
        check_key_name("secret", name)
        type_id, schema_id = self._secret_ids()
        stored = secret_value(value)
        body = {"name": name, "block_type_id": type_id, "block_schema_id": schema_id,
                "data": {"value": stored}, "is_anonymous": False}  # fmt: skip
        try:
            self.api.post("block_documents/", body)
        except ObjectAlreadyExists:
            if not overwrite:
                raise ObjectAlreadyExists(
                    f"secret {name!r} already exists", hint="pass --overwrite to replace it"
                ) from None
            document = self._secret_document(name)
            self.api.patch(f"block_documents/{document['id']}",
                           {"data": {"value": stored}, "merge_existing_data": False})  # fmt: skip
        return self._secret_info(self._secret_document(name))

    def _secret_document(self, name: str, *, values: bool = False) -> dict[str, Any]:
        path = f"block_types/slug/secret/block_documents/name/{_q(name)}"
        try:
            return dict(self.api.get(path, include_secrets=str(values).lower()))
        except ObjectNotFound:
            known = [s.name for s in self.read_secrets()]
            raise ObjectNotFound.named("secret", name, known) from None

    @staticmethod
    def _secret_info(data: Mapping[str, Any]) -> SecretInfo:
        return SecretInfo(data["name"], convert.time_of(data.get("created")),
                          convert.time_of(data.get("updated")))  # fmt: skip

    def read_secrets(self) -> list[SecretInfo]:
        found = self.api.get("block_types/slug/secret/block_documents")
        return sorted((self._secret_info(item) for item in found if not item.get("is_anonymous")),
                      key=lambda s: s.name)  # fmt: skip

    def read_secret_value(self, name: str) -> str:
        from flowplan import masking

        value = self._secret_document(name, values=True).get("data", {}).get("value")
        text = value if isinstance(value, str) else json.dumps(value)
        masking.register(text)
        return text

    def delete_secret(self, name: str) -> None:
        document = self._secret_document(name)
        self.api.delete(f"block_documents/{document['id']}")

    # -- leases: a Prefect variable each, created atomically (names are unique) -------------

    def acquire_lease(self, name: str, holder: str, ttl_seconds: float) -> Lease | None:
        now = datetime.now(UTC)
        current = self.read_lease(name)
        if current is not None and current.holder != holder and current.expires > now:
            return None
        acquired = current.acquired if current and current.holder == holder else now
        value = {"holder": holder, "acquired": acquired.isoformat(),
                 "expires": (now + timedelta(seconds=ttl_seconds)).isoformat()}  # fmt: skip
        variable = LEASE_PREFIX + name
        if current is not None and current.holder == holder:
            self.api.patch(f"variables/name/{_q(variable)}", {"value": value})
            return self.read_lease(name)
        if current is not None:  # expired: whoever deletes and creates it first has it
            self.release_lease(name, current.holder)
        try:
            self.api.post("variables/", {"name": variable, "value": value, "tags": ["flowplan"]})
        except ObjectAlreadyExists:
            return None
        return self.read_lease(name)

    def read_lease(self, name: str) -> Lease | None:
        try:
            data = self.api.get(f"variables/name/{_q(LEASE_PREFIX + name)}")
        except ObjectNotFound:
            return None
        value = data.get("value") or {}
        return Lease(name, value.get("holder", "?"),
                     datetime.fromisoformat(str(value.get("acquired"))),
                     datetime.fromisoformat(str(value.get("expires"))))  # fmt: skip

    def release_lease(self, name: str, holder: str | None = None) -> bool:
        current = self.read_lease(name)
        if current is None or (holder is not None and current.holder != holder):
            return False
        try:
            self.api.delete(f"variables/name/{_q(LEASE_PREFIX + name)}")
        except ObjectNotFound:
            return False
        return True
