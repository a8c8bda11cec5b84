"""flowplan server answers with the JSON Prefect's own server gives: the same objects made on a
real Prefect server and on flowplan's, read through the same routes, have the same keys, at
every level (a deployment's schedules, a run's state and its details, a pool's storage ...)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from flowplan.domain.schedules import CronSchedule
from flowplan.domain.specs import DeploymentSpec, ScheduleSpec
from tests.flowplan_server import flowplan_server
from tests.prefect_server import Proxy, api_client
from tests.runtime.helpers import store

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}}
# values whose keys are the user's (a process pool made by flowplan has its default template;
# one made through Prefect's REST API without one has none)
USER_DATA = {"base_job_template", "parameters", "job_variables", "parameter_openapi_schema"}


def call(client: httpx.Client, method: str, path: str, body: Any = None) -> Any:
    response = client.request(method, path.lstrip("/"), json=body, timeout=60)
    if response.is_error:
        raise AssertionError(f"{method} {response.url}: {response.status_code} {response.text!r}")
    return response.json() if response.content else None


def differences(prefect: Any, ours: Any, where: str) -> list[str]:
    """Keys one side has and the other lacks, at every level of two JSON answers."""
    found = []
    if isinstance(prefect, dict) and isinstance(ours, dict):
        only_prefect, only_ours = set(prefect) - set(ours), set(ours) - set(prefect)
        if only_prefect or only_ours:
            found.append(f"{where}: only Prefect {sorted(only_prefect)}, "
                         f"only flowplan {sorted(only_ours)}")  # fmt: skip
        for key in (set(prefect) & set(ours)) - USER_DATA:
            found += differences(prefect[key], ours[key], f"{where}.{key}")
    elif isinstance(prefect, list) and isinstance(ours, list) and prefect and ours:
        found += differences(prefect[0], ours[0], f"{where}[0]")
    return found


def make_on_prefect(client: httpx.Client) -> dict[str, str]:
    call(client, "POST", "/work_pools/", {"name": "pool", "type": "process"})
    flow = call(client, "POST", "/flows/", {"name": "f"})
    deployment = call(client, "POST", "/deployments/", {
        "name": "d", "flow_id": flow["id"], "work_pool_name": "pool", "parameters": {"n": 1},
        "parameter_openapi_schema": SCHEMA, "tags": ["team"], "entrypoint": "flows/d.py:f",
        "schedules": [{"schedule": {"cron": "0 9 * * *", "timezone": "UTC"}}]})  # fmt: skip
    run = call(client, "POST", f"/deployments/{deployment['id']}/create_flow_run",
               {"parameters": {"n": 2}})  # fmt: skip
    call(client, "POST", "/variables/", {"name": "region", "value": "eu", "tags": ["infra"]})
    call(client, "POST", "/logs/", [{"name": "flowplan", "level": 20, "message": "hello",
                                  "timestamp": run["created"], "flow_run_id": run["id"]}])  # fmt: skip
    return {"deployment": deployment["id"], "flow": flow["id"], "run": run["id"]}


def make_on_flowplan(home: Path) -> dict[str, str]:
    from flowplan.domain.clock import utcnow
    from flowplan.domain.objects import LogLine

    backend = store(home)
    backend.create_work_pool("pool", "process")
    deployment = backend.upsert_deployments([DeploymentSpec(
        flow_name="f", name="d", work_pool_name="pool", parameters={"n": 1},
        parameter_openapi_schema=SCHEMA, tags=("team",), entrypoint="flows/d.py:f",
        schedules=(ScheduleSpec(CronSchedule("0 9 * * *", "UTC")),))])[0]  # fmt: skip
    run = backend.create_flow_run("f/d", parameters={"n": 2})
    backend.set_variable("region", "eu", tags=["infra"])
    backend.write_logs([LogLine(run.id, utcnow(), 20, "hello")])
    backend.close()
    return {"deployment": deployment.id, "flow": deployment.flow_id, "run": run.id}


READS = [
    ("GET", "/deployments/{deployment}", None),
    ("GET", "/deployments/name/f/d", None),
    ("POST", "/deployments/filter", {}),
    ("GET", "/deployments/{deployment}/schedules", None),
    ("GET", "/flows/{flow}", None),
    ("POST", "/flows/filter", {}),
    ("GET", "/flow_runs/{run}", None),
    ("POST", "/flow_runs/filter", {}),
    ("POST", "/logs/filter", {"logs": {"flow_run_id": {"any_": ["{run}"]}}}),
    ("GET", "/work_pools/pool", None),
    ("POST", "/work_pools/filter", {}),
    ("GET", "/work_pools/pool/queues/default", None),
    ("POST", "/work_pools/pool/queues/filter", {}),
    ("GET", "/variables/name/region", None),
    ("POST", "/variables/filter", {}),
    ("GET", "/health", None),
    ("GET", "/version", None),
]


def test_every_served_read_has_prefects_keys(prefect_api: Proxy, tmp_path: Path) -> None:
    # Prefect's server on SQLite answers 503 while its file is locked (its scheduler writes the
    # new deployment's runs meanwhile); Prefect's own client retries that, and so does the one
    # used for Prefect here. flowplan's server is asked with a plain client: a 503 from it fails.
    prefect = api_client(prefect_api.url)
    theirs = make_on_prefect(prefect)
    ours = make_on_flowplan(tmp_path / "home")
    found = []
    with flowplan_server(tmp_path / "home") as server:
        flowplan = httpx.Client(base_url=server.url + "/")
        for method, path, body in READS:
            answers = []
            for client, ids in ((prefect, theirs), (flowplan, ours)):
                text = json.dumps(body).replace("{run}", ids["run"])
                answers.append(call(client, method, path.format(**ids), json.loads(text)))
            assert type(answers[0]) is type(answers[1]), (path, answers)
            found += differences(answers[0], answers[1], f"{method} {path}")
        # cancelling a run that has not started: cancelled at once, "rejected" as asked
        cancel = {"state": {"type": "CANCELLING"}}
        answers = [call(client, "POST", f"/flow_runs/{ids['run']}/set_state", cancel)
                   for client, ids in ((prefect, theirs), (flowplan, ours))]  # fmt: skip
        found += differences(*answers, "POST /flow_runs/{id}/set_state")
        assert answers[0]["details"] == answers[1]["details"]
        assert answers[0]["status"] == answers[1]["status"] == "REJECT"
        assert answers[0]["state"]["type"] == answers[1]["state"]["type"] == "CANCELLED"
    assert found == [], "\n".join(found)
