"""The run filters Prefect's client and CLI send most (`flow-run ls`, `run_deployment`'s polls,
runs of a deployment), as one SQL page: a store with a million runs is not read whole for them.
Pure: `pushdown` turns a filter body into the arguments of `LocalBackend.page_flow_runs`, or
None when the body asks for more than it expresses (then every run is filtered in Python)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowplan.domain.objects import StateType
from flowplan.server.filters import DEFAULT_LIMIT

ORDERS = {
    "EXPECTED_START_TIME_DESC": "expected_start_time DESC",
    "EXPECTED_START_TIME_ASC": "expected_start_time ASC", "ID_DESC": "id DESC",
    "START_TIME_DESC": "start_time DESC", "START_TIME_ASC": "start_time ASC",
    "END_TIME_DESC": "end_time DESC", "NAME_ASC": "name ASC", "NAME_DESC": "name DESC",
}  # fmt: skip


def _set(criteria: Any, *path: str) -> tuple[bool, list[str] | None]:
    """(whether the criteria are only `any_` lists along `path`, the list if given)."""
    if criteria is None:
        return True, None
    if not isinstance(criteria, Mapping):
        return False, None
    given = {key: value for key, value in criteria.items()
             if value is not None and not (key == "operator" and value == "and_")}  # fmt: skip
    if not path:
        wanted = given.pop("any_", None)
        ok = not given and (wanted is None or isinstance(wanted, list))
        return ok, [str(item) for item in wanted] if ok and wanted is not None else None
    head, rest = path[0], path[1:]
    if set(given) - {head}:
        return False, None
    return _set(given.get(head), *rest)


def pushdown(body: Mapping[str, Any]) -> dict[str, Any] | None:
    runs = body.get("flow_runs") or {}
    if not isinstance(runs, Mapping):
        return None
    extra = {key for key, value in runs.items() if value is not None
             and key not in ("id", "state", "deployment_id", "operator")}  # fmt: skip
    if extra or runs.get("operator") not in (None, "and_"):
        return None
    if any(body.get(key) for key in ("work_pools", "work_pool_queues", "task_runs")):
        return None
    checks = {
        "ids": _set(runs.get("id")),
        "states": _set(runs.get("state"), "type"),
        "run_deployments": _set(runs.get("deployment_id")),
        "deployments": _set(body.get("deployments"), "id"),
        "flows": _set(body.get("flows"), "id"),
    }
    order = ORDERS.get(body.get("sort") or "ID_DESC")
    limit = body.get("limit")
    limit = DEFAULT_LIMIT if limit is None else limit
    offset = body.get("offset") or 0
    valid_page = (isinstance(limit, int) and 0 <= limit <= DEFAULT_LIMIT
                  and isinstance(offset, int) and offset >= 0)  # fmt: skip
    if order is None or not valid_page or not all(ok for ok, _ in checks.values()):
        return None
    states = checks["states"][1]
    if states is not None and not set(states) <= set(StateType.__members__):
        return None
    deployments = _both(checks["run_deployments"][1], checks["deployments"][1])
    return {"ids": checks["ids"][1],
            "states": [StateType(state) for state in states] if states is not None else [],
            "state_filter": states is not None, "deployment_ids": deployments,
            "flow_ids": checks["flows"][1], "order": order, "limit": limit,
            "offset": offset}  # fmt: skip


def _both(first: list[str] | None, second: list[str] | None) -> list[str] | None:
    if first is None or second is None:
        return first if second is None else second
    return [item for item in first if item in second]
