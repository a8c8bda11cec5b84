"""`/api/flow_runs/...` and `/api/logs/filter`: read and filter runs, cancel them
(`set_state` to CANCELLING or CANCELLED), read their logs. Runs are moved through their other
states by flowplan's workers, not through this API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowplan.domain.clock import utcnow
from flowplan.domain.objects import StateType
from flowplan.domain.pool_rules import cancel_state
from flowplan.server import api_common, compat, run_query
from flowplan.server.router import ROUTER, ApiError, Reply, Request, invalid_body

if TYPE_CHECKING:
    from flowplan.backends.local import LocalBackend

_FILTER = {"flows": "object?", "flow_runs": "object?", "task_runs": "object?",
           "deployments": "object?", "work_pools": "object?", "work_pool_queues": "object?",
           "sort": "string?", "limit": "integer?", "offset": "integer?"}  # fmt: skip
_LOGS = {"logs": "object?", "sort": "string?", "limit": "integer?", "offset": "integer?"}
_CANCEL = (StateType.CANCELLING.value, StateType.CANCELLED.value)


@ROUTER.route("GET", "/flow_runs/{id:uuid}", "Read a flow run")
def read(backend: LocalBackend, request: Request) -> Any:
    found = api_common.runs(backend, {"id": {"any_": [request.params["id"]]}})
    if not found:
        raise ApiError(404, "Flow run not found")
    return found[0]


def _matching(backend: LocalBackend, request: Request) -> tuple[dict[str, Any], list[Any]]:
    body = api_common.body_of(request, _FILTER, strict=False)
    checks = api_common.related(backend, body, "flow_runs")
    items = [
        r for r in api_common.runs(backend, body.get("flow_runs")) if all(c(r) for c in checks)
    ]
    return body, api_common.select(items, body.get("flow_runs"), "flow_runs")


@ROUTER.route("POST", "/flow_runs/filter", "Filter flow runs", body=True)
def filter_(backend: LocalBackend, request: Request) -> Any:
    query = run_query.pushdown(api_common.body_of(request, _FILTER, strict=False))
    if query is not None:  # one page in SQL
        if query.pop("state_filter") and not query["states"]:
            return []
        lookups = api_common.Lookups(backend)
        return [compat.flow_run(run, lookups.queue_ids, lookups.pool_ids)
                for run in backend.page_flow_runs(**query)]  # fmt: skip
    body, chosen = _matching(backend, request)
    return api_common.filtered(chosen, {**body, "flow_runs": None}, "flow_runs", "ID_DESC")


@ROUTER.route("POST", "/flow_runs/count", "Count flow runs", body=True)
def count(backend: LocalBackend, request: Request) -> Any:
    return len(_matching(backend, request)[1])


@ROUTER.route("POST", "/flow_runs/{id:uuid}/set_state", "Cancel a flow run", body=True)
def set_state(backend: LocalBackend, request: Request) -> Any:
    body = api_common.body_of(request, {"state": "object", "force": "boolean?"})
    state = body.get("state")
    if state is None:
        raise invalid_body(body, ["state"], "Field required", "missing")
    wanted = state.get("type")
    if wanted not in _CANCEL:
        raise ApiError(501, f"flowplan's server sets a run's state only to cancel it (CANCELLING"
                            f" or CANCELLED; given: {wanted}); flowplan's workers move runs"
                            " through their other states")  # fmt: skip
    run_id = request.params["id"]
    try:
        run = backend.read_flow_run(run_id)
    except LookupError:
        raise ApiError(404, "Flow run not found") from None
    if run.state.type.is_final:
        return Reply({"state": None, "status": "ABORT", "details": {
            "type": "abort_details",
            "reason": f"This run is in terminal state {run.state.type.value}."}})  # fmt: skip
    before = utcnow()
    target = cancel_state(run)
    message = state.get("message") or ("Cancelled" if target is StateType.CANCELLED else None)
    changed = backend.set_flow_run_state(run_id, target, message=message)
    lookups = api_common.Lookups(backend)
    result = compat.flow_run(changed, lookups.queue_ids, lookups.pool_ids)["state"]
    status = 201 if changed.state.timestamp >= before else 200
    if wanted == StateType.CANCELLING.value and target is StateType.CANCELLED:
        # as Prefect's server answers: not what was asked for, but cancelled at once
        reason = f"{run.state.type.value.capitalize()} flow run has no infrastructure to terminate."
        return Reply({"state": result, "status": "REJECT",
                      "details": {"type": "reject_details", "reason": reason}}, status)  # fmt: skip
    return Reply({"state": result, "status": "ACCEPT", "details": {"type": "accept_details"}},
                 status)  # fmt: skip


@ROUTER.route("POST", "/logs/filter", "Read the logs of flow runs", body=True)
def logs(backend: LocalBackend, request: Request) -> Any:
    body = api_common.body_of(request, _LOGS, strict=False)
    criteria = body.get("logs") or {}
    run_ids = (
        (criteria.get("flow_run_id") or {}).get("any_") if isinstance(criteria, dict) else None
    )
    if not isinstance(run_ids, list):
        raise ApiError(501, "flowplan's server reads logs by flow run: give logs.flow_run_id.any_")
    found = []
    for run_id in dict.fromkeys(str(item) for item in run_ids):
        try:
            lines = backend.read_logs(run_id)
        except LookupError:
            continue
        found += [compat.log(line, index) for index, line in enumerate(lines)]
    return api_common.filtered(found, body, "logs", "TIMESTAMP_ASC")
