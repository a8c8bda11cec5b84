"""Webhooks, events and deployment triggers with the real server process (and a real worker
where runs must finish): webhook -> event -> run COMPLETED; a chain (A completes -> B runs with
A's parameters); a proactive trigger; kill -9 of the server amid many webhook posts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.domain.objects import StateType
from tests.flowplan_server import FlowplanServer, flowplan_server, server_env
from tests.integration.workers import Workers, wait_for
from tests.runtime.helpers import deployment, store

TEMPLATE = """{
  "event": "order.{{ body.status }}",
  "resource": {"prefect.resource.id": "shop.order.{{ body.id }}"},
  "payload": {"n": {{ body.n|tojson }}, "agent": "{{ headers['User-Agent'] }}"}
}"""


def post(server: FlowplanServer, slug: str, body: Any, **headers: str) -> tuple[int, str, str]:
    """POST /hooks/<slug>: the status, the event id (on 204) and the answer's text."""
    root = server.url[: -len("/api")]
    request = urllib.request.Request(f"{root}/hooks/{slug}", data=json.dumps(body).encode(),
                                     method="POST")  # fmt: skip
    request.add_header("content-type", "application/json")
    for key, value in headers.items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers.get("x-flowplan-event-id", ""), ""
    except urllib.error.HTTPError as error:
        return error.code, "", error.read().decode()


def flowplan(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flowplan", *args], env=server_env(home),
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def runs_of(backend: LocalBackend, name: str) -> list[Any]:
    return backend.read_flow_runs(deployment=f"f/{name}")


def test_a_webhook_event_runs_its_deployment_to_completion(tmp_path: Path) -> None:
    home, backend = tmp_path / "home", store(tmp_path / "home")
    deployment(backend, tmp_path, name="orders", triggers=[{
        "expect": ["order.paid"], "match": {"prefect.resource.id": "shop.order.*"},
        "parameters": {"n": "{{ event.payload.n }}"},
    }])  # fmt: skip
    made = flowplan(home, "webhook", "create", "shop", "--template", TEMPLATE)
    assert made.returncode == 0, made.stderr
    slug = made.stdout.strip().rsplit("/hooks/", 1)[1]
    assert len(slug) >= 20  # unguessable by default
    workers = Workers(home, tmp_path)
    try:
        with flowplan_server(home) as server:
            workers.start()
            assert post(server, slug, {"status": "refunded", "id": 1, "n": 1})[0] == 204
            status, event_id, _ = post(server, slug, {"status": "paid", "id": 7, "n": 42},
                                       **{"User-Agent": "shop/1.0"})  # fmt: skip
            assert status == 204 and event_id
            run = wait_for("the triggered run to complete", lambda: next(
                (r for r in runs_of(backend, "orders") if r.state.type is StateType.COMPLETED),
                None))  # fmt: skip
            assert run.parameters == {"n": 42}  # one whole placeholder keeps the type
            assert len(runs_of(backend, "orders")) == 1  # the refund matched nothing
            assert any("n=42" in line.message for line in backend.read_logs(run.id))
    finally:
        workers.stop_all()
    shown = flowplan(home, "flow-run", "inspect", run.id, "--output", "json")
    cause = json.loads(shown.stdout)["caused_by"]
    assert cause["event_id"] == event_id and cause["event"] == "order.paid"
    assert cause["automation"] == "orders__automation_1"
    assert cause["reason"] == "Reactive: order.paid on shop.order.7"
    event = json.loads(flowplan(home, "event", "ls", "--name", "order.*", "--output",
                                "json").stdout)[0]  # fmt: skip
    assert event["id"] == event_id and event["payload"] == {"n": 42, "agent": "shop/1.0"}
    assert event["related"][0]["prefect.resource.role"] == "webhook"
    states = json.loads(flowplan(home, "event", "ls", "--resource", f"prefect.flow-run.{run.id}",
                                 "--output", "json").stdout)  # fmt: skip
    assert [e["event"] for e in reversed(states)] == [
        "prefect.flow-run.Scheduled", "prefect.flow-run.Pending", "prefect.flow-run.Running",
        "prefect.flow-run.Completed"]  # fmt: skip
    roles = {r["prefect.resource.role"]: r["prefect.resource.id"] for r in states[0]["related"]}
    assert roles["deployment"] == f"prefect.deployment.{run.deployment_id}"
    assert set(roles) >= {"flow", "deployment", "work-queue", "work-pool"}
    listed = flowplan(home, "automation", "ls", "--output", "json")
    assert json.loads(listed.stdout)[0]["firings"] == 1


def test_a_request_the_template_cannot_render_is_a_400_with_the_reason(tmp_path: Path) -> None:
    home = tmp_path / "home"
    made = flowplan(home, "webhook", "create", "shop", "--slug", "my-shop-hook", "--template",
                    TEMPLATE)  # fmt: skip
    assert made.returncode == 0, made.stderr
    with flowplan_server(home, host="127.0.0.2") as server:  # a token bind: hooks need none
        status, _, text = post(server, "my-shop-hook", {"id": 3})
        assert status == 400
        assert json.loads(text) == {
            "detail": "webhook 'shop': {{ body.status }}: body.status"
            " has no value in this request or event"
        }
        assert "webhook 'shop': 400 {{ body.status }}" in server.output()
        assert "my-shop-hook" not in server.output()  # the slug is a secret
        assert post(server, "not-a-hook", {})[0] == 404
        injected = {"status": 'paid", "event": "x', "id": 1, "n": 1}  # a quote cannot add fields
        assert post(server, "my-shop-hook", injected)[0] == 204
        big = {"status": "paid", "id": 1, "n": "x" * (256 * 1024)}
        assert post(server, "my-shop-hook", big)[0] == 413
    events = store(home).read_events(name="order.*")
    assert [e.event for e in events] == ['order.paid", "event": "x']


def test_a_bad_template_is_refused_when_the_webhook_is_created(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for template, message in [
        ('{"event": "x"}', "the template gives no resource with a 'prefect.resource.id'"),
        ('{"event": "{{ bdy.x }}", "resource": {"prefect.resource.id": "r"}}',
         "{{ bdy.x }}: unknown name 'bdy' (known: body, headers, method, query)"),
        ('{"event": "{% if x %}", "resource": {}}', "Jinja statements and comments"),
        ('{"event": {{ body.x }, "resource": {}}', "{{ body.x }, \"resource\": {}}: cannot read"),
        ('{"event": "{{ body.x }}", "resource": {"prefect.resource.id": "r"},}', "not JSON"),
    ]:  # fmt: skip
        done = flowplan(home, "webhook", "create", "w", "--template", template)
        assert done.returncode == 1 and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert flowplan(home, "webhook", "ls", "--output", "json").stdout.strip() == "[]"


def test_a_chain_b_runs_with_a_s_parameters_when_a_completes(tmp_path: Path) -> None:
    home, backend = tmp_path / "home", store(tmp_path / "home")
    first = deployment(backend, tmp_path, name="a")
    deployment(backend, tmp_path, name="b", triggers=[{
        "expect": ["prefect.flow-run.Completed"],
        "match_related": {"prefect.resource.role": "deployment",
                          "prefect.resource.name": "a"},
        "parameters": {"n": "{{ flow_run.parameters.n }}"},
    }])  # fmt: skip
    workers = Workers(home, tmp_path)
    try:
        with flowplan_server(home):
            workers.start()
            started = backend.create_flow_run(first.id, parameters={"n": 17})
            second = wait_for("b's run to complete", lambda: next(
                (r for r in runs_of(backend, "b") if r.state.type is StateType.COMPLETED),
                None))  # fmt: skip
    finally:
        workers.stop_all()
    assert second.parameters == {"n": 17}
    assert backend.read_flow_run(started.id).state.type is StateType.COMPLETED
    assert len(runs_of(backend, "b")) == 1  # b's own completion does not start b again
    cause = backend.read_firings(flow_run_id=second.id)[0]
    assert cause.event_name == "prefect.flow-run.Completed"
    completed = backend.read_events(name="prefect.flow-run.Completed",
                                    resource=f"prefect.flow-run.{started.id}")  # fmt: skip
    assert cause.event_id == completed[0].id


def test_a_proactive_trigger_fires_when_the_expected_event_does_not_come(tmp_path: Path) -> None:
    home, backend = tmp_path / "home", store(tmp_path / "home")
    deployment(backend, tmp_path, name="alarm", triggers=[{
        "posture": "Proactive", "after": ["job.started"], "expect": ["job.finished"],
        "for_each": ["prefect.resource.id"], "within": 1, "parameters": {"n": 1},
    }])  # fmt: skip
    template = json.dumps(
        {"event": "job.{{ body.what }}", "resource": {"prefect.resource.id": "job.{{ body.job }}"}}
    )
    flowplan(home, "webhook", "create", "jobs", "--slug", "jobs-hook", "--template", template)
    with flowplan_server(home) as server:
        assert post(server, "jobs-hook", {"what": "started", "job": "on-time"})[0] == 204
        assert post(server, "jobs-hook", {"what": "started", "job": "stuck"})[0] == 204
        assert post(server, "jobs-hook", {"what": "finished", "job": "on-time"})[0] == 204
        fired = wait_for("the proactive firing", lambda: backend.read_firings())
    assert len(fired) == 1  # the on-time job's window closed first, without a firing
    assert fired[0].reason == ("Proactive: 0 of 1 job.finished within 1 s after job.started")
    started = backend.read_events(name="job.started", resource="job.stuck")[0]
    assert fired[0].event_id == started.id
    assert len(runs_of(backend, "alarm")) == 1


def test_every_stored_event_gives_one_run_across_kill_9_and_a_restart(tmp_path: Path) -> None:
    home, backend = tmp_path / "home", store(tmp_path / "home")
    deployment(backend, tmp_path, name="many", triggers=[{"expect": ["order.paid"],
                                                          "parameters": {"n": 2}}])  # fmt: skip
    flowplan(home, "webhook", "create", "shop", "--slug", "shop-hook", "--template", TEMPLATE)
    accepted: list[str] = []
    body = {"status": "paid", "id": 1, "n": 1}

    def send(server: FlowplanServer, count: int, stop: threading.Event) -> None:
        for _ in range(count):
            if stop.is_set():
                return
            try:
                status, event_id, _ = post(server, "shop-hook", body)
            except OSError:
                return  # the server was killed
            if status == 204:
                accepted.append(event_id)

    with flowplan_server(home) as server:
        stop = threading.Event()
        senders = [threading.Thread(target=send, args=(server, 200, stop)) for _ in range(4)]
        for sender in senders:
            sender.start()
        wait_for("some accepted posts", lambda: len(accepted) >= 150)
        os.killpg(server.process.pid, signal.SIGKILL)  # amid posts and trigger passes
        server.process.wait()
        stop.set()
        for sender in senders:
            sender.join()
    killed_at = len(accepted)
    with flowplan_server(home) as again:
        for _ in range(50):
            status, event_id, _ = post(again, "shop-hook", body)
            assert status == 204
            accepted.append(event_id)
        stored = {e.id for e in backend.read_events(name="order.paid", limit=10_000)}
        wait_for("a run for every stored event", lambda: len(runs_of(backend, "many"))
                 >= len(stored))  # fmt: skip
    assert killed_at < 800 and set(accepted) <= stored
    runs = runs_of(backend, "many")
    firings = backend.read_firings(limit=10_000)
    assert len(runs) == len(stored) == len(firings)
    assert {f.event_id for f in firings} == stored
    assert {f.flow_run_id for f in firings} == {r.id for r in runs}


@pytest.fixture(autouse=True)
def _no_prefect_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("PREFECT_API", "FLOWPLAN_API")):
            monkeypatch.delenv(key)


PROJECT = """name: shop
work_pools:
  - name: pool
webhooks:
  - name: orders
    description: the shop's orders
    template:
      event: "order.{{ body.status }}"
      resource: {prefect.resource.id: "shop.order.{{ body.id }}"}
deployments:
  - name: on-order
    entrypoint: flows/f.py:f
    work_pool: {name: pool}
    triggers:
      - expect: [order.paid]
        parameters: {n: "{{ event.payload.body.id }}"}
"""


def test_webhooks_declared_in_the_project_go_through_plan_and_apply(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "f.py").write_text("from flowplan import flow\n\n@flow\n"
                                             "def f(n: int = 0):\n    return n\n")  # fmt: skip
    project = tmp_path / "prefect.yaml"
    project.write_text(PROJECT.replace("order.{{ body.status }}", "{{ bdy.status }}"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "flowplan", *args], env=server_env(home),
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)  # fmt: skip

    refused = run("validate")
    assert refused.returncode == 1
    assert ("webhooks[0].template: {{ bdy.status }}: unknown name 'bdy' (known: body, headers,"
            " method, query)") in refused.stdout + refused.stderr  # fmt: skip
    project.write_text(PROJECT)
    planned = run("plan")
    assert "+ webhook 'orders'" in planned.stdout, planned.stderr
    assert run("apply", "--auto-approve").returncode == 0
    assert "No changes" in run("plan").stdout  # the slug is the target's, never compared
    project.write_text(PROJECT.replace("the shop's orders", "orders"))
    assert '~ description: "the shop\'s orders" -> "orders"' in run("plan").stdout
    assert run("apply", "--auto-approve").returncode == 0
    (hook,) = json.loads(run("webhook", "ls", "--output", "json").stdout)
    assert hook["description"] == "orders" and len(hook["slug"]) >= 20
    backend = store(home)
    with flowplan_server(home) as server:
        status, event_id, _ = post(server, hook["slug"], {"status": "paid", "id": 5})
        assert status == 204
        run_ = wait_for("the triggered run", lambda: next(iter(runs_of(backend, "on-order")),
                                                          None))  # fmt: skip
    assert run_.parameters == {"n": 5}
    assert backend.read_firings(flow_run_id=run_.id)[0].event_id == event_id


def test_old_events_are_deleted_but_never_past_the_cursor_or_the_newest(tmp_path: Path) -> None:
    from flowplan.domain.clock import utcnow

    backend = store(tmp_path / "home")
    later = utcnow() + timedelta(days=1)
    for _ in range(3):
        backend.write_event("e", {"prefect.resource.id": "r"})
    assert backend.prune_events(before=later) == 2  # never the newest (it numbers new ones)
    backend.evaluate_triggers()  # the first pass: the cursor at the newest event
    newest = backend.write_event("e", {"prefect.resource.id": "r"})
    assert backend.prune_events(before=later) == 1
    assert backend.prune_events(before=utcnow() - timedelta(days=1)) == 0
    assert [event.id for event in backend.read_events()] == [newest]


def test_the_commands_say_a_prefect_server_keeps_its_own(tmp_path: Path) -> None:
    env = {**server_env(tmp_path / "home"), "FLOWPLAN_API_URL": "http://127.0.0.1:9/api"}
    for args in (["event", "ls"], ["webhook", "ls"], ["automation", "ls"]):
        done = subprocess.run([sys.executable, "-m", "flowplan", *args], env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 1
        assert done.stderr.startswith(
            "Error: webhooks, events and deployment triggers are kept"
            " in the local store; the target here is Prefect API"
        )


def test_a_compound_trigger_fires_once_both_of_its_events_came(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, name="both", triggers=[{
        "type": "compound", "require": "all", "within": 60,
        "triggers": [{"expect": ["data.ready"]}, {"expect": ["model.ready"]}],
        "parameters": {"n": 3},
    }])  # fmt: skip
    backend.evaluate_triggers()  # the store's first pass places the cursor
    backend.write_event("data.ready", {"prefect.resource.id": "data"})
    backend.evaluate_triggers()
    assert runs_of(backend, "both") == []
    last = backend.write_event("model.ready", {"prefect.resource.id": "model"})
    backend.evaluate_triggers()
    (run,) = runs_of(backend, "both")
    (firing,) = backend.read_firings()
    assert (firing.event_id, firing.flow_run_id) == (last, run.id)
    assert firing.reason == "Compound: 2 of 2 triggers, the last on model.ready"


def test_a_firing_whose_run_is_refused_is_recorded_with_the_reason(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    deployment(backend, tmp_path, name="strict", parameter_openapi_schema=schema,
               enforce_parameter_schema=True, triggers=[{
                   "expect": ["job.done"], "parameters": {"n": "{{ event.payload.n }}"}}])  # fmt: skip
    backend.evaluate_triggers()
    backend.write_event("job.done", {"prefect.resource.id": "j"}, payload={"n": "many"})
    backend.write_event("job.done", {"prefect.resource.id": "j"}, payload={})
    backend.write_event("job.done", {"prefect.resource.id": "j"}, payload={"n": 4})
    backend.evaluate_triggers()
    (run,) = runs_of(backend, "strict")
    assert run.parameters == {"n": 4}
    refused, missing, made = reversed(backend.read_firings())
    assert refused.flow_run_id is None and "cannot create a run of deployment 'f/strict'" in str(
        refused.error)  # fmt: skip
    assert missing.error == ("{{ event.payload.n }}: event.payload.n has no value in this"
                             " request or event")  # fmt: skip
    assert (made.flow_run_id, made.error) == (run.id, None)
    shown = flowplan(tmp_path / "home", "automation", "ls", "--firings", "--output", "json")
    assert [f["error"] is None for f in json.loads(shown.stdout)] == [True, False, False]


def test_work_pool_and_deployment_status_events(tmp_path: Path) -> None:
    """A worker's first heartbeat makes its pool READY and its first poll the pool's
    deployments READY, each with Prefect's event (once: a second worker changes nothing);
    pausing and resuming the pool emit theirs."""
    home, backend = tmp_path / "home", store(tmp_path / "home")
    deployment(backend, tmp_path, name="d")
    dep = backend.read_deployment("f/d")
    pool = backend.read_work_pool("pool")

    def status_events() -> list[dict[str, Any]]:
        shown = flowplan(home, "event", "ls", "--output", "json")
        assert shown.returncode == 0, shown.stderr
        return [e for e in reversed(json.loads(shown.stdout))
                if not e["event"].startswith("prefect.flow-run.")]  # fmt: skip

    assert status_events() == []
    workers = Workers(home, tmp_path)
    try:
        workers.start()
        wait_for("the deployment's ready event", lambda: len(status_events()) >= 2)
        workers.start()
        assert flowplan(home, "work-pool", "pause", "pool").returncode == 0
        assert flowplan(home, "work-pool", "resume", "pool").returncode == 0
    finally:
        workers.stop_all()
    found = status_events()
    assert [e["event"] for e in found] == [
        "prefect.work-pool.ready", "prefect.deployment.ready", "prefect.work-pool.paused",
        "prefect.work-pool.ready"]  # fmt: skip
    assert found[0]["resource"] == {"prefect.resource.id": f"prefect.work-pool.{pool.id}",
                                    "prefect.resource.name": "pool",
                                    "prefect.work-pool.type": pool.type}  # fmt: skip
    assert found[1]["resource"] == {"prefect.resource.id": f"prefect.deployment.{dep.id}",
                                    "prefect.resource.name": "d"}  # fmt: skip
    roles = {r["prefect.resource.role"]: r["prefect.resource.name"] for r in found[1]["related"]}
    assert roles == {"flow": "f", "work-queue": "default", "work-pool": "pool"}
    backend.close()
