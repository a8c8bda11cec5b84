"""Writes Prefect's server takes and flowplan's does not: 501 with what to do instead.

Deployments, pools, queues and variables come from prefect.yaml through `flowplan apply` (or
flowplan's own commands), and runs are moved by flowplan's workers; so `prefect deploy` or a
Prefect worker pointed at this server learns why, instead of meeting a bare 404."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from flowplan.server.router import ROUTER, ApiError, Request

if TYPE_CHECKING:
    from flowplan.backends.local import LocalBackend

_BY_APPLY = (
    "flowplan's server does not create, change or delete {what} through the API: they"
    " come from prefect.yaml through 'flowplan apply' (or 'flowplan {command}')"
)
_REFUSED = [
    ("POST", "/deployments", "deployments", "deploy"),
    ("DELETE", "/deployments/{id:uuid}", "deployments", "deployment delete"),
    ("POST", "/flows", "flows", "deploy"),
    ("POST", "/work_pools", "work pools", "work-pool create"),
    ("PATCH", "/work_pools/{name}", "work pools", "work-pool update"),
    ("DELETE", "/work_pools/{name}", "work pools", "work-pool delete"),
    ("POST", "/work_pools/{pool}/queues", "work queues", "work-queue create"),
    ("POST", "/variables", "variables", "variable set"),
    ("PATCH", "/variables/name/{name}", "variables", "variable set"),
    ("DELETE", "/variables/name/{name}", "variables", "variable unset"),
]
_RUNTIME = (
    "flowplan's server does not {what}: flowplan's workers run flows and report their"
    " states and logs to the local store ('flowplan worker start --pool POOL')"
)
_RUNTIME_ROUTES = [
    ("POST", "/flow_runs", "create runs without a deployment"),
    ("POST", "/logs", "take logs"),
    ("POST", "/work_pools/{name}/get_scheduled_flow_runs", "hand runs to Prefect workers"),
    ("POST", "/work_pools/{name}/workers/heartbeat", "take Prefect workers' heartbeats"),
]


def _refuse(message: str) -> Any:
    def handler(backend: LocalBackend, request: Request) -> NoReturn:
        raise ApiError(501, message)

    return handler


for _method, _path, _what, _command in _REFUSED:
    ROUTER.route(
        _method,
        _path,
        f"Not served (501): {_what} come from 'flowplan apply'",
        body=_method != "DELETE",
    )(_refuse(_BY_APPLY.format(what=_what, command=_command)))
for _method, _path, _what in _RUNTIME_ROUTES:
    ROUTER.route(_method, _path, f"Not served (501): flowplan does not {_what}",
                 body=True)(_refuse(_RUNTIME.format(what=_what)))  # fmt: skip
