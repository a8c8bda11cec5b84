"""Prefect's REST API as `flowplan server start` answers it: a real server process over a store
the tests fill through the local backend, called over HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.domain.objects import StateType
from tests.flowplan_server import FlowplanServer, flowplan_server
from tests.runtime.helpers import deployment, store

SCHEMA = {"type": "object", "title": "Parameters", "required": ["n"],
          "properties": {"n": {"type": "integer", "title": "n"},
                         "label": {"type": "string", "default": "x"}}}  # fmt: skip
SECRET = "hunter2-very-secret-value"


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[FlowplanServer, LocalBackend, str]]:
    root = tmp_path_factory.mktemp("api")
    backend = store(root / "home")
    made = deployment(backend, root, parameter_openapi_schema=SCHEMA,
                      enforce_parameter_schema=True, tags=("team",))  # fmt: skip
    backend.set_variable("region", "eu-west", tags=["infra"])
    backend.set_secret("token", SECRET)
    with flowplan_server(root / "home") as server:
        yield server, backend, made.id
    backend.close()


@pytest.fixture
def server(setup: tuple[FlowplanServer, LocalBackend, str]) -> FlowplanServer:
    return setup[0]


@pytest.fixture
def backend(setup: tuple[FlowplanServer, LocalBackend, str]) -> LocalBackend:
    return setup[1]


@pytest.fixture
def deployment_id(setup: tuple[FlowplanServer, LocalBackend, str]) -> str:
    return setup[2]


def test_health_and_versions_answer_as_prefect_does(server: FlowplanServer) -> None:
    assert server.call("GET", "/health") == (200, True)
    assert server.call("GET", "/version") == (200, "0.8.4")
    assert server.call("GET", "/admin/version") == (200, "3.9.1")
    # no automations on flowplan's server (events and triggers are not served)
    assert server.call("POST", "/automations/filter", {}) == (200, [])
    assert server.call("GET", "/automations/related-to/prefect.deployment.x") == (200, [])


@pytest.mark.parametrize(
    ("version", "status", "detail"),
    [
        ("0.8.4", 200, None),
        ("1.2.3", 200, None),
        (
            "0.7.9",
            400,
            "The request specified API version 0.7.9 but this server requires version"
            " 0.8.0 or higher.",
        ),
        (
            "three",
            400,
            "Invalid X-PREFECT-API-VERSION header format.Expected header in format"
            " 'x.y.z' but received three",
        ),
    ],
)
def test_the_client_api_version_header_is_checked_as_prefect_does(
    server: FlowplanServer, version: str, status: int, detail: str | None
) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(server.url + "/admin/version",
                                     headers={"X-PREFECT-API-VERSION": version})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            assert (response.status, detail) == (status, None)
    except urllib.error.HTTPError as error:
        assert (error.code, json.loads(error.read())) == (status, {"detail": detail})
    health = urllib.request.Request(server.url + "/health",
                                    headers={"X-PREFECT-API-VERSION": version})  # fmt: skip
    with urllib.request.urlopen(health, timeout=30) as response:
        assert response.status == 200  # not checked there, as on Prefect's server


def test_a_route_not_served_says_what_is_served(server: FlowplanServer) -> None:
    status, answer = server.call("POST", "/task_runs/filter", {})
    assert status == 404
    assert answer["detail"].startswith("flowplan's server does not serve /api/task_runs/filter:"
                                       " it serves Prefect's API for deployments")  # fmt: skip
    assert server.call("DELETE", "/health") == (
        405, {"detail": "DELETE is not allowed on /api/health (allowed: GET)"})  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "detail"),
    [
        (
            "POST",
            "/deployments/",
            "flowplan's server does not create, change or delete"
            " deployments through the API: they come from prefect.yaml through 'flowplan apply'"
            " (or 'flowplan deploy')",
        ),
        (
            "POST",
            "/variables/",
            "flowplan's server does not create, change or delete variables"
            " through the API: they come from prefect.yaml through 'flowplan apply' (or 'flowplan"
            " variable set')",
        ),
        (
            "POST",
            "/work_pools/pool/get_scheduled_flow_runs",
            "flowplan's server does not hand"
            " runs to Prefect workers: flowplan's workers run flows and report their states and"
            " logs to the local store ('flowplan worker start --pool POOL')",
        ),
    ],
)
def test_writes_prefect_takes_answer_501_with_what_to_do(
    server: FlowplanServer, method: str, path: str, detail: str
) -> None:
    assert server.call(method, path, {}) == (501, {"detail": detail})


def test_the_openapi_document_lists_exactly_the_served_routes(server: FlowplanServer) -> None:
    from flowplan.server import api_deployments, api_events, api_objects, api_refused, api_runs
    from flowplan.server.router import ROUTER

    del api_deployments, api_events, api_objects, api_refused, api_runs
    status, document = server.call("GET", "/openapi.json")
    assert status == 200 and document["openapi"] == "3.1.0"
    listed = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    assert ("POST", "/api/deployments/{id}/create_flow_run") in listed
    assert len(listed) == len(ROUTER.routes)


def test_deployments_read_by_id_name_and_filter(server: FlowplanServer, deployment_id: str) -> None:
    status, by_id = server.call("GET", f"/deployments/{deployment_id}")
    assert status == 200
    assert (by_id["name"], by_id["work_pool_name"], by_id["tags"]) == ("d", "pool", ["team"])
    assert by_id["parameter_openapi_schema"] == SCHEMA and by_id["enforce_parameter_schema"]
    assert server.call("GET", "/deployments/name/f/d") == (200, by_id)
    assert server.call("GET", "/deployments/name/f/nope") == (
        404,
        {"detail": "Deployment not found"},
    )
    assert server.call("GET", f"/deployments/{uuid.uuid4()}")[0] == 404
    status, found = server.call(
        "POST", "/deployments/filter", {"flows": {"name": {"any_": ["f"]}}, "deployments": None}
    )
    assert (status, [d["id"] for d in found]) == (200, [deployment_id])
    assert server.call("POST", "/deployments/filter", {"flows": {"name": {"any_": ["g"]}}}) == (
        200,
        [],
    )
    status, found = server.call(
        "POST", "/deployments/filter", {"deployments": {"flow_or_deployment_name": {"like_": "F"}}}
    )
    assert [d["id"] for d in found] == [deployment_id]
    assert server.call("POST", "/deployments/count", {}) == (200, 1)


def test_create_flow_run_with_parameters_tags_job_variables_and_a_time(
    server: FlowplanServer, backend: LocalBackend, deployment_id: str
) -> None:
    body = {"parameters": {"n": 3}, "tags": ["adhoc"], "name": "my-run",
            "job_variables": {"env": {"A": "1"}},
            "state": {"type": "SCHEDULED", "state_details": {
                "scheduled_time": "2031-05-01T12:00:00+00:00"}}}  # fmt: skip
    status, run = server.call("POST", f"/deployments/{deployment_id}/create_flow_run", body)
    assert status == 201
    assert (run["name"], run["parameters"], run["job_variables"]) == (
        "my-run", {"n": 3}, {"env": {"A": "1"}})  # fmt: skip
    assert sorted(run["tags"]) == ["adhoc", "team"]
    assert run["state"]["type"] == "SCHEDULED"
    assert run["state"]["state_details"]["scheduled_time"].startswith("2031-05-01T12:00:00")
    stored = backend.read_flow_run(run["id"])
    assert stored.parameters == {"n": 3} and stored.deployment_id == deployment_id
    assert stored.expected_start_time.isoformat().startswith("2031-05-01T12:00:00")
    assert server.call("GET", f"/flow_runs/{run['id']}") == (200, run)


def test_an_idempotency_key_gives_the_first_run_again(server: FlowplanServer,
                                                       deployment_id: str) -> None:  # fmt: skip
    body = {"parameters": {"n": 1}, "idempotency_key": f"key-{uuid.uuid4()}"}
    path = f"/deployments/{deployment_id}/create_flow_run"
    first, again = server.call("POST", path, body), server.call("POST", path, body)
    assert (first[0], again[0]) == (201, 200)
    assert first[1]["id"] == again[1]["id"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            {"parameters": {"n": 1, "bogus": 2}},
            "Error creating flow run: the following parameters"
            " were specified but not found on the deployment: bogus (it takes: n, label)",
        ),
        ({"parameters": {"n": "three"}}, "Error creating flow run: parameter n: "),
        ({"parameters": {}}, "Error creating flow run: parameter parameters: "),
        (
            {"parameters": {"n": 1}, "job_variables": {"env": "not-a-mapping"}},
            "Error creating flow run: deployment f/d: job variables do not fit the work pool:",
        ),
    ],
)
def test_parameters_and_job_variables_are_checked_at_the_door(
    server: FlowplanServer,
    backend: LocalBackend,
    deployment_id: str,
    body: dict[str, object],
    detail: str,
) -> None:
    before = len(backend.read_flow_runs())
    status, answer = server.call("POST", f"/deployments/{deployment_id}/create_flow_run", body)
    assert status == 422
    assert answer["detail"].startswith(detail)
    assert len(backend.read_flow_runs()) == before  # nothing stored


def test_a_run_may_turn_enforcement_off_for_itself(
    server: FlowplanServer, backend: LocalBackend, deployment_id: str
) -> None:
    """The request's `enforce_parameter_schema: false` overrides the deployment's, as in
    Prefect: the door checks the parameters once, with that override, and the store takes the
    door's word (it does not check them again against the deployment's own flag)."""
    path = f"/deployments/{deployment_id}/create_flow_run"
    body = {"parameters": {"n": "three"}, "enforce_parameter_schema": False}
    status, run = server.call("POST", path, body)
    assert status == 201, run
    assert backend.read_flow_run(run["id"]).parameters == {"n": "three"}
    status, answer = server.call("POST", path, {"parameters": {"n": "three"}})
    assert status == 422
    assert answer["detail"].startswith("Error creating flow run: parameter n: ")


def test_a_malformed_body_is_refused_in_prefects_validation_shape(server: FlowplanServer,
                                                                   deployment_id: str) -> None:  # fmt: skip
    path = f"/deployments/{deployment_id}/create_flow_run"
    status, answer = server.call("POST", path, {"parameters": {"n": 1}, "colour": "red"})
    assert status == 422
    assert answer == {"exception_message": "Invalid request received.",
                      "exception_detail": [{"type": "extra_forbidden", "loc": ["body", "colour"],
                                            "msg": "Extra inputs are not permitted"}],
                      "request_body": {"parameters": {"n": 1}, "colour": "red"}}  # fmt: skip
    status, answer = server.call("POST", path, raw=b"{not json")
    assert status == 422 and answer["exception_detail"][0]["type"] == "json_invalid"
    status, answer = server.call("POST", path, {"parameters": [1, 2]})
    assert status == 422 and answer["exception_detail"][0]["loc"] == ["body", "parameters"]


def test_cancelling_through_set_state(server: FlowplanServer, backend: LocalBackend) -> None:
    run = backend.create_flow_run("f/d", parameters={"n": 1})
    path = f"/flow_runs/{run.id}/set_state"
    status, result = server.call("POST", path, {"state": {"type": "CANCELLING"}})
    assert status == 201  # not started: cancelled at once, "rejected" as Prefect answers
    assert (result["status"], result["state"]["type"]) == ("REJECT", "CANCELLED")
    assert result["details"] == {
        "type": "reject_details",
        "reason": "Scheduled flow run has no infrastructure to terminate.",
    }
    assert backend.read_flow_run(run.id).state.type is StateType.CANCELLED
    status, result = server.call("POST", path, {"state": {"type": "CANCELLING"}})
    assert (status, result["status"]) == (200, "ABORT")
    assert result["details"]["reason"] == "This run is in terminal state CANCELLED."
    running = backend.create_flow_run("f/d", parameters={"n": 1})
    backend.set_flow_run_state(running.id, StateType.RUNNING)
    status, result = server.call("POST", f"/flow_runs/{running.id}/set_state",
                                 {"state": {"type": "CANCELLING"}})  # fmt: skip
    assert (result["status"], result["state"]["type"]) == (
        "ACCEPT",
        "CANCELLING",
    )  # its worker stops it
    status, result = server.call("POST", f"/flow_runs/{running.id}/set_state",
                                 {"state": {"type": "COMPLETED"}})  # fmt: skip
    assert status == 501 and "only to cancel it" in result["detail"]


def test_flow_runs_filter_by_deployment_state_sort_and_page(
    server: FlowplanServer, backend: LocalBackend, deployment_id: str
) -> None:
    made = [backend.create_flow_run("f/d", parameters={"n": n}).id for n in range(3)]
    status, found = server.call("POST", "/flow_runs/filter", {
        "deployments": {"id": {"any_": [deployment_id]}},
        "flow_runs": {"id": {"any_": made}, "state": {"type": {"any_": ["SCHEDULED"]}}},
        "sort": "EXPECTED_START_TIME_DESC", "limit": 2})  # fmt: skip
    assert status == 200
    assert [run["id"] for run in found] == made[::-1][:2]
    status, found = server.call("POST", "/flow_runs/filter", {"flows": {"name": {"any_": ["g"]}}})
    assert (status, found) == (200, [])
    status, answer = server.call("POST", "/flow_runs/filter", {"limit": 500})
    assert status == 422 and "limit: expected a whole number from 0 to 200" in str(answer)
    status, answer = server.call("POST", "/flow_runs/filter", {"task_runs": {"id": {"any_": []}}})
    assert status == 501 and answer["detail"].startswith("flowplan has no task runs")


def test_logs_of_a_run(server: FlowplanServer, backend: LocalBackend) -> None:
    from flowplan.domain.clock import utcnow
    from flowplan.domain.objects import LogLine

    run = backend.create_flow_run("f/d", parameters={"n": 1})
    backend.write_logs(
        [LogLine(run.id, utcnow(), 20, "hello"), LogLine(run.id, utcnow(), 40, "bad")]
    )
    status, found = server.call("POST", "/logs/filter", {
        "logs": {"flow_run_id": {"any_": [run.id]}, "level": {"ge_": 30}}})  # fmt: skip
    assert status == 200
    assert [(line["message"], line["level"]) for line in found] == [("bad", 40)]
    assert server.call("POST", "/logs/filter", {})[0] == 501


def test_pause_and_resume(
    server: FlowplanServer, backend: LocalBackend, deployment_id: str
) -> None:
    assert server.call("PATCH", f"/deployments/{deployment_id}", {"paused": True}) == (204, None)
    assert backend.read_deployment("f/d").paused
    assert server.call("POST", f"/deployments/{deployment_id}/resume_deployment")[0] == 200
    assert not backend.read_deployment("f/d").paused
    status, answer = server.call("PATCH", f"/deployments/{deployment_id}", {"description": "x"})
    assert status == 501 and "'flowplan apply'" in answer["detail"]


def test_schedules_through_the_api(server: FlowplanServer, deployment_id: str) -> None:
    path = f"/deployments/{deployment_id}/schedules"
    status, created = server.call("POST", path, [{"schedule": {"cron": "0 9 * * *"},
                                                  "active": False, "slug": "nine"}])  # fmt: skip
    assert status == 201 and created[0]["schedule"]["cron"] == "0 9 * * *"
    schedule_id = created[0]["id"]
    assert server.call("PATCH", f"{path}/{schedule_id}", {"active": True}) == (204, None)
    status, listed = server.call("GET", path)
    assert [(s["slug"], s["active"]) for s in listed] == [("nine", True)]
    assert server.call("DELETE", f"{path}/{schedule_id}") == (204, None)
    assert server.call("GET", path) == (200, [])


def test_flows_pools_queues_and_variables(server: FlowplanServer, backend: LocalBackend) -> None:
    status, flows = server.call("POST", "/flows/filter", {})
    assert [f["name"] for f in flows] == ["f"]
    assert server.call("GET", f"/flows/{flows[0]['id']}") == (200, flows[0])
    assert server.call("GET", "/flows/name/f") == (200, flows[0])
    status, pool = server.call("GET", "/work_pools/pool")
    assert (status, pool["type"], pool["status"]) == (200, "process", "NOT_READY")
    assert server.call("GET", "/work_pools/nope") == (
        404,
        {"detail": 'Work pool "nope" not found.'},
    )
    assert server.call("GET", "/work_pools/pool/queues/nope") == (
        404, {"detail": "Work pool queue 'pool/nope' not found."})  # fmt: skip
    assert server.call("GET", "/variables/name/nope") == (404, {"detail": "Variable not found."})
    status, queues = server.call("POST", "/work_pools/pool/queues/filter", {})
    assert [q["name"] for q in queues] == ["default"]
    assert server.call("GET", f"/work_queues/{queues[0]['id']}") == (200, queues[0])
    assert server.call("GET", f"/work_queues/{queues[0]['id']}/status")[1]["healthy"] is False
    status, variable = server.call("GET", "/variables/name/region")
    assert (variable["value"], variable["tags"]) == ("eu-west", ["infra"])
    assert server.call("GET", f"/variables/{variable['id']}") == (200, variable)
    assert server.call("POST", "/variables/filter", {"variables": {"name": {"like_": "reg"}}}) == (
        200, [variable])  # fmt: skip


def test_secrets_are_never_served(server: FlowplanServer, deployment_id: str) -> None:
    answers = [server.call(method, path, body) for method, path, body in [
        ("GET", "/variables/name/token", None), ("POST", "/variables/filter", {}),
        ("GET", "/block_documents", None), ("POST", "/block_documents/filter", {}),
        ("POST", "/deployments/filter", {}), ("POST", "/flow_runs/filter", {}),
        ("GET", "/openapi.json", None)]]  # fmt: skip
    assert answers[0][0] == 404 and answers[2][0] == 404
    assert SECRET not in str(answers)


def test_active_slots_count_pending_and_running_runs_under_a_limit(
    server: FlowplanServer, backend: LocalBackend
) -> None:
    assert server.call("GET", "/work_pools/pool")[1]["active_slots"] is None  # no limit
    backend.update_work_pool("pool", {"concurrency_limit": 5})
    try:
        before = server.call("GET", "/work_pools/pool")[1]["active_slots"]
        run = backend.create_flow_run("f/d", parameters={"n": 1})
        backend.set_flow_run_state(run.id, StateType.RUNNING)
        assert server.call("GET", "/work_pools/pool")[1]["active_slots"] == before + 1
        backend.set_flow_run_state(run.id, StateType.COMPLETED)
        assert server.call("GET", "/work_pools/pool")[1]["active_slots"] == before
    finally:
        backend.update_work_pool("pool", {"concurrency_limit": None})
