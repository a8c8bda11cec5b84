"""The run filters answered by one SQL page give what filtering every run in Python gives."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.domain.clock import utcnow
from flowplan.domain.objects import StateType
from flowplan.server import api_common, api_runs, run_query
from flowplan.server.router import Request
from tests.runtime.helpers import deployment, store

FLOW_RUN_LS = {  # what `prefect flow-run ls --state-type COMPLETED --limit 3` sends
    "flows": None, "flow_runs": {"operator": "and_", "id": None, "name": None, "tags": None,
                                 "deployment_id": None, "work_queue_name": None,
                                 "state": {"operator": "and_",
                                           "type": {"any_": ["COMPLETED"], "not_any_": None},
                                           "name": None}},
    "task_runs": None, "deployments": None, "work_pools": None, "work_pool_queues": None,
    "sort": "EXPECTED_START_TIME_DESC", "limit": 3, "offset": 0,
}  # fmt: skip


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalBackend, list[str], str]:
    root = tmp_path_factory.mktemp("runs")
    backend = store(root / "home")
    first = deployment(backend, root, name="d1")
    deployment(backend, root, name="d2")
    start = utcnow()
    ids = []
    for n in range(24):
        run = backend.create_flow_run(
            "f/d1" if n % 3 else "f/d2",
            name=f"run-{n:02d}",
            scheduled_time=start + timedelta(minutes=(n * 7) % 24),
        )
        if n % 4 == 1:
            backend.set_flow_run_state(run.id, StateType.COMPLETED)
        elif n % 4 == 2:
            backend.set_flow_run_state(run.id, StateType.RUNNING)
        ids.append(run.id)
    return backend, ids, first.id


def both(backend: LocalBackend, body: dict[str, Any]) -> tuple[list[str], list[str]]:
    assert run_query.pushdown(body) is not None
    pushed = api_runs.filter_(backend, Request("POST", "", {}, body))
    _, chosen = api_runs._matching(backend, Request("POST", "", {}, body))
    python = api_common.filtered(chosen, {**body, "flow_runs": None}, "flow_runs", "ID_DESC")
    return [run["id"] for run in pushed], [run["id"] for run in python]


@pytest.mark.parametrize("sort", [None, *run_query.ORDERS])
def test_sorted_pages_agree(filled: tuple[LocalBackend, list[str], str], sort: str | None) -> None:
    backend, _, _ = filled
    if sort in ("START_TIME_DESC", "START_TIME_ASC", "END_TIME_DESC"):
        # where runs without a time go differs (as between Prefect's SQLite and PostgreSQL)
        pushed, python = both(backend, {"sort": sort})
        assert sorted(pushed) == sorted(python) and len(pushed) == 24
        return
    for limit, offset in ((5, 0), (5, 5), (200, 0), (0, 0), (10, 20)):
        pushed, python = both(backend, {"sort": sort, "limit": limit, "offset": offset})
        assert pushed == python


BODIES: list[Callable[[str, list[str]], dict[str, Any]]] = [
    lambda deployment_id, ids: FLOW_RUN_LS,
    lambda deployment_id, ids: {
        "flow_runs": {"state": {"type": {"any_": ["SCHEDULED", "RUNNING"]}}}, "limit": 50},
    lambda deployment_id, ids: {"flow_runs": {"state": {"type": {"any_": []}}}},
    lambda deployment_id, ids: {"deployments": {"id": {"any_": [deployment_id]}},
                                "sort": "EXPECTED_START_TIME_ASC"},
    lambda deployment_id, ids: {"flow_runs": {"deployment_id": {"any_": [deployment_id]},
                                              "id": {"any_": ids[::2]}}},
]  # fmt: skip


@pytest.mark.parametrize("make", BODIES)
def test_filters_agree(
    filled: tuple[LocalBackend, list[str], str], make: Callable[[str, list[str]], dict[str, Any]]
) -> None:
    backend, ids, deployment_id = filled
    pushed, python = both(backend, make(deployment_id, ids))
    assert pushed == python
    assert make is not BODIES[0] or len(pushed) == 3


@pytest.mark.parametrize("body", [
    {"flow_runs": {"name": {"like_": "run"}}},
    {"flow_runs": {"state": {"name": {"any_": ["Late"]}}}},
    {"flow_runs": {"operator": "or_", "id": {"any_": []}}},
    {"flows": {"name": {"any_": ["f"]}}},
    {"work_pools": {"name": {"any_": ["pool"]}}},
    {"sort": "COLOUR_ASC"},
    {"limit": 500},
])  # fmt: skip
def test_other_filters_are_left_to_python(body: dict[str, Any]) -> None:
    assert run_query.pushdown(body) is None


def test_a_large_store_is_not_read_whole(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path)
    for _ in range(300):
        backend.create_flow_run("f/d")
    calls = []
    original = backend.read_flow_runs
    backend.read_flow_runs = lambda **kw: calls.append(kw) or original(**kw)  # type: ignore[method-assign]
    found = api_runs.filter_(backend, Request("POST", "", {}, FLOW_RUN_LS | {"flow_runs": None}))
    assert len(found) == 3 and calls == []
