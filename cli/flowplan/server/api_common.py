"""What the route modules share: reading bodies as Prefect's schemas define them, the objects
of the store as Prefect's JSON, and cross-object filters (runs of the deployments that match)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from flowplan.server import compat, filters
from flowplan.server.router import ApiError, Request, invalid_body

if TYPE_CHECKING:
    from flowplan.backends.local import LocalBackend

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,),
    "integer": (int,), "number": (int, float), "any": (object,),
}  # fmt: skip


def body_of(request: Request, fields: Mapping[str, str], *, strict: bool = True) -> dict[str, Any]:
    """The JSON object body (`fields`: key -> JSON type, `?` suffix: may be null); wrong types
    are refused as Prefect's pydantic models refuse them. Unknown keys too when `strict` (an
    object Prefect creates from the body); otherwise (a filter body) unknown keys are ignored
    when null and answered 501 when given, as flowplan does not apply them."""
    body = {} if request.body is None else request.body
    if not isinstance(body, dict):
        raise invalid_body(body, [], "Input should be a valid dictionary", "dict_type")
    for key, value in body.items():
        if key not in fields and strict:
            raise invalid_body(body, [key], "Extra inputs are not permitted", "extra_forbidden")
        if key not in fields:
            if value is None:
                continue
            raise ApiError(501, f"flowplan's server does not apply {key!r} here (it takes "
                                f"{', '.join(fields)})")  # fmt: skip
        kind = fields[key].rstrip("?")
        if value is None and fields[key].endswith("?"):
            continue
        wrong_bool = isinstance(value, bool) and kind in ("integer", "number")
        if not isinstance(value, _TYPES[kind]) or wrong_bool:
            raise invalid_body(body, [key], f"Input should be a valid {kind}", f"{kind}_type")
    return body


def filtered(
    items: list[dict[str, Any]], body: Mapping[str, Any], key: str, default_sort: str
) -> list[dict[str, Any]]:
    """One object kind's filter, sort and page."""
    try:
        chosen = filters.select(items, body.get(key), key)
        return filters.page(filters.sort(chosen, body.get("sort"), default_sort), body)
    except filters.FilterError as exc:
        raise invalid_body(dict(body), [key], str(exc), "value_error") from None


def select(items: list[dict[str, Any]], criteria: Any, key: str) -> list[dict[str, Any]]:
    try:
        return filters.select(items, criteria, key)
    except filters.FilterError as exc:
        raise invalid_body({key: criteria}, [key], str(exc), "value_error") from None


class Lookups:
    """Ids Prefect's JSON carries that flowplan's objects name instead: queue and pool ids."""

    def __init__(self, backend: LocalBackend) -> None:
        queues = backend.read_work_queues()
        self.queue_ids = {(q.work_pool_name, q.name): q.id for q in queues}
        self.pool_ids = {q.work_pool_name: q.work_pool_id for q in queues}


def deployments(backend: LocalBackend) -> list[dict[str, Any]]:
    lookups = Lookups(backend)
    return [compat.deployment(d, lookups.queue_ids) for d in backend.read_deployments()]


def flows(backend: LocalBackend) -> list[dict[str, Any]]:
    return [compat.flow(f) for f in backend.read_flows()]


def pools(backend: LocalBackend) -> list[dict[str, Any]]:
    active = backend.count_active_runs()
    return [compat.work_pool(p, active) for p in backend.read_work_pools()]


def queues(backend: LocalBackend) -> list[dict[str, Any]]:
    active = backend.count_active_runs()
    return [compat.work_queue(q, active) for q in backend.read_work_queues()]


def runs(backend: LocalBackend, criteria: Any) -> list[dict[str, Any]]:
    """Runs as Prefect's JSON: those named by `flow_runs.id.any_` when given, else all."""
    lookups = Lookups(backend)
    wanted = ((criteria or {}).get("id") or {}).get("any_") if isinstance(criteria, dict) else None
    if isinstance(wanted, list):
        found = []
        for run_id in dict.fromkeys(str(item) for item in wanted):
            try:
                found.append(backend.read_flow_run(run_id))
            except LookupError:
                continue
    else:
        found = backend.read_flow_runs()
    return [compat.flow_run(run, lookups.queue_ids, lookups.pool_ids) for run in found]


def related(
    backend: LocalBackend, body: Mapping[str, Any], own: str
) -> list[Callable[[dict[str, Any]], bool]]:
    """Conditions from the other kinds' filters in a body (`flows`, `deployments`,
    `flow_runs`, `work_pools`, `work_pool_queues`) on objects of kind `own`."""
    checks: list[Callable[[dict[str, Any]], bool]] = []
    given = {key: value for key, value in body.items() if value and key in _LINKS}
    if body.get("task_runs"):
        raise ApiError(501, "flowplan has no task runs: filter without 'task_runs'")
    for key, criteria in given.items():
        if key == own:
            continue
        link = _LINKS[key].get(own)
        if link is None:
            raise ApiError(501, f"flowplan does not filter {own} by {key}")
        checks.append(link(backend, criteria))
    return checks


_Link = Callable[["LocalBackend", Any], Callable[[dict[str, Any]], bool]]


def _by(
    load: Callable[[LocalBackend], list[dict[str, Any]]], key: str, field: str, target: str
) -> _Link:
    """Objects whose `target` field is among the `field` values of the matching `key` kind."""

    def link(backend: LocalBackend, criteria: Any) -> Callable[[dict[str, Any]], bool]:
        allowed = {item[field] for item in select(load(backend), criteria, key)}
        return lambda item: item[target] in allowed

    return link


def _runs_all(backend: LocalBackend) -> list[dict[str, Any]]:
    return runs(backend, None)


_LINKS: dict[str, dict[str, _Link]] = {
    "flows": {"deployments": _by(flows, "flows", "id", "flow_id"),
              "flow_runs": _by(flows, "flows", "id", "flow_id")},
    "deployments": {"flows": _by(deployments, "deployments", "flow_id", "id"),
                    "flow_runs": _by(deployments, "deployments", "id", "deployment_id")},
    "flow_runs": {"flows": _by(_runs_all, "flow_runs", "flow_id", "id"),
                  "deployments": _by(_runs_all, "flow_runs", "deployment_id", "id")},
    "work_pools": {"deployments": _by(pools, "work_pools", "name", "work_pool_name"),
                   "flow_runs": _by(pools, "work_pools", "name", "work_pool_name"),
                   "work_queues": _by(pools, "work_pools", "name", "work_pool_name")},
    "work_pool_queues": {"deployments": _by(queues, "work_pool_queues", "id", "work_queue_id"),
                         "flow_runs": _by(queues, "work_pool_queues", "id", "work_queue_id")},
}  # fmt: skip
