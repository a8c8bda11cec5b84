"""flowplan against a real Prefect server, checked with Prefect's own CLI and worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flowplan.backends.prefect import PrefectBackend
from tests.conftest import Result, write
from tests.prefect_server import PREFECT, PrefectServer, Proxy, api_client, prefect_env, proxy
from tests.servers import free_port, wait_for

FLOW = """\
import os

from prefect import flow, get_run_logger


@flow
def etl(n: int = 1, name: str = "x"):
    get_run_logger().info("etl ran with n=%s name=%s", n, name)
    if os.environ.get("ETL_EXECUTIONS"):  # a test counting executions: one line each
        with open(os.environ["ETL_EXECUTIONS"], "a") as executions:
            executions.write(f"{n}\\n")
    return n * 2


@flow
def report(day: str = "today"):
    print(day)
"""


def project_file(root: Path, count: int = 20) -> str:
    lines = ["name: interop", "prefect-version: 3.9.1", "pull:",
             "  - prefect.deployments.steps.set_working_directory:",
             f"      directory: {root}", "deployments:"]  # fmt: skip
    for i in range(count):
        flow = "flows/etl.py:etl" if i % 2 == 0 else "flows/etl.py:report"
        params = f"{{n: {i}}}" if i % 2 == 0 else "{day: monday}"
        queue = "fast" if i % 4 == 0 else "slow"
        lines += [f"  - name: d{i:02d}", f"    entrypoint: {flow}", f"    parameters: {params}",
                  f"    tags: [team-{i % 3}, interop]", f"    description: deployment {i}",
                  f"    work_pool: {{name: interop-pool, work_queue_name: {queue}}}",
                  "    paused: false",
                  f"    schedules: [{{cron: '{i} 3 * * *', timezone: Europe/Berlin,"
                  f" slug: nightly, active: true}}]"]  # fmt: skip
    lines += ["work_pools:", "  - name: interop-pool", "    type: process", "    queues:",
              "      - {name: fast, priority: 1}", "      - {name: slow, priority: 2}"]  # fmt: skip
    return "\n".join(lines) + "\n"


@pytest.fixture
def interop(
    prefect_api: Proxy, project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A 20-deployment project whose target is the server (through the counting proxy)."""
    root = project({"flows/etl.py": FLOW})
    (root / "prefect.yaml").write_text(project_file(root))
    monkeypatch.setenv("FLOWPLAN_API_URL", prefect_api.url)
    yield root


def test_apply_shows_in_prefects_cli_and_reapply_writes_nothing(
    interop: Path, prefect_api: Proxy, prefect_server: PrefectServer, cli: Callable[..., Result]
) -> None:
    applied = cli("apply", "--auto-approve")
    assert applied.code == 0, applied.err + applied.out
    assert applied.err.startswith(f"Target: Prefect API {prefect_api.url}")
    assert "Apply complete: 23 added, 0 changed, 0 destroyed." in applied.out  # pool, 2 queues

    listed = prefect_server.cli("deployment", "ls")
    assert listed.returncode == 0, listed.stderr
    for i in range(20):
        assert f"d{i:02d}" in listed.stdout
    shown = prefect_server.cli("deployment", "inspect", "etl/d04")
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    for expected in ("'name': 'd04'", "'n': 4", "'team-1'", "'interop'", "'4 3 * * *'",
                     "'Europe/Berlin'", "'work_pool_name': 'interop-pool'",
                     "'work_queue_name': 'fast'", "'description': 'deployment 4'",
                     "'slug': 'nightly'", "'flowplan.dev/project': 'interop'"):  # fmt: skip
        assert expected in text, f"{expected} not in {text}"
    report = prefect_server.cli("deployment", "inspect", "report/d03")
    assert "'day': 'monday'" in report.stdout and "'work_queue_name': 'slow'" in report.stdout

    prefect_api.reset()
    again = cli("apply", "--auto-approve")
    assert again.code == 0, again.err
    assert "No changes." in again.out
    assert prefect_api.writes() == [], "a no-op apply wrote to the server"
    plan = cli("plan", "--detailed-exitcode")
    assert plan.code == 0 and prefect_api.writes() == []


def test_changes_made_through_prefect_show_as_drift(
    interop: Path, prefect_server: PrefectServer, cli: Callable[..., Result]
) -> None:
    assert cli("apply", "--auto-approve").code == 0
    api = api_client(prefect_server.url)
    deployment = api.get("deployments/name/etl/d02").json()
    assert api.patch(f"deployments/{deployment['id']}",
                     json={"description": "edited by hand"}).status_code == 204  # fmt: skip
    paused = api.get("deployments/name/report/d05").json()
    assert api.post(f"deployments/{paused['id']}/pause_deployment").status_code < 300
    other = api.get("deployments/name/etl/d06").json()
    schedule = other["schedules"][0]["id"]
    assert api.patch(f"deployments/{other['id']}/schedules/{schedule}",
                     json={"active": False}).status_code == 204  # fmt: skip

    plan = cli("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.err
    assert '~ description: "edited by hand" -> "deployment 2"' in plan.out
    assert "~ paused: true -> false" in plan.out
    assert "~ schedules[nightly].active: false -> true" in plan.out
    assert "Plan: 0 to add, 3 to change, 0 to destroy." in plan.out
    assert cli("apply", "--auto-approve").code == 0
    assert cli("plan", "--detailed-exitcode").code == 0
    assert api.get(f"deployments/{other['id']}").json()["schedules"][0]["id"] == schedule


def test_a_prefect_worker_runs_what_flowplan_applied(
    interop: Path, prefect_server: PrefectServer, cli: Callable[..., Result], tmp_path: Path
) -> None:
    assert cli("apply", "--auto-approve", "-n", "d00").code == 0
    env = {**prefect_env(prefect_server.home, prefect_server.url),
           "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "1"}  # fmt: skip
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [str(PREFECT), "worker", "start", "--pool", "interop-pool", "--type", "process"],
        cwd=interop, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        run = cli("deployment", "run", "etl/d00", "--param", "n=21", "--watch",
                  "--timeout", "180")  # fmt: skip
        worker_log = (tmp_path / "worker.log").read_text(errors="replace")
        assert run.code == 0, run.out + run.err + worker_log[-3000:]
        watched = run.out + run.err
        assert "Flow run" in watched and "is Completed." in watched, watched
        assert "etl ran with n=21 name=x" in watched, watched
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
        log.close()
    runs = cli("flow-run", "ls", "--output", "json")
    assert runs.code == 0, runs.err
    [done] = [r for r in json.loads(runs.out) if r["parameters"].get("n") == 21]
    assert done["state"]["type"] == "COMPLETED" and done["deployment_name"] == "d00"
    logs = cli("flow-run", "logs", done["id"])
    assert "etl ran with n=21" in logs.out


def test_two_prefect_workers_on_one_pool_run_each_run_exactly_once(
    interop: Path, prefect_server: PrefectServer, cli: Callable[..., Result], tmp_path: Path
) -> None:
    """The scale-out picture: flowplan applies; Prefect's workers on (here: beside) other hosts
    share the pool's runs, each run executed by exactly one of them. The runs count their
    executions in a file of their own: their logs reach the server only if Prefect's log
    shipping finishes within its exit timeout (5 s), which a loaded machine can miss."""
    assert cli("apply", "--auto-approve", "-n", "d00").code == 0
    made = [cli("deployment", "run", "etl/d00", "--param", f"n={100 + i}") for i in range(8)]
    assert all(run.code == 0 for run in made), [run.err for run in made]
    executions = tmp_path / "executions"
    env = {**prefect_env(prefect_server.home, prefect_server.url),
           "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "1",
           "ETL_EXECUTIONS": str(executions)}  # fmt: skip
    logs = [tmp_path / f"worker-{n}.log" for n in (1, 2)]
    workers = []
    for n, log in enumerate(logs, 1):
        with open(log, "wb") as out:
            workers.append(subprocess.Popen(
                [str(PREFECT), "worker", "start", "--pool", "interop-pool", "--type", "process",
                 "--name", f"worker-{n}"],
                cwd=interop, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            ))  # fmt: skip

    def finished() -> list[dict[str, object]]:
        listed = cli("flow-run", "ls", "--output", "json")
        ours = [r for r in json.loads(listed.out) if r["parameters"].get("n", 0) >= 100]
        return ours if all(r["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED")
                           for r in ours) else []  # fmt: skip

    try:
        wait_for(lambda: len(finished()) == 8, "8 runs finished by two Prefect workers", 240)
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.wait(30)
    runs = finished()
    assert sorted(r["parameters"]["n"] for r in runs) == list(range(100, 108))
    assert {r["state"]["type"] for r in runs} == {"COMPLETED"}, runs
    texts = [log.read_text(errors="replace") for log in logs]
    for run in runs:
        # a worker that lost the race for a run logs its submission, then that it aborted it
        took = [f"submitting flow run '{run['id']}'" in text
                and f"Aborted submission of flow run '{run['id']}'" not in text
                for text in texts]  # fmt: skip
        assert took.count(True) == 1, (run["id"], texts)
    assert sorted(int(n) for n in executions.read_text().split()) == list(range(100, 108))


# -- faults ---------------------------------------------------------------------------------


def test_an_unreachable_server_is_named_and_nothing_is_applied(
    project: Callable[..., Path], cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project({"flows/etl.py": FLOW})
    (root / "prefect.yaml").write_text(project_file(root, 2))
    url = f"http://127.0.0.1:{free_port()}/api"
    result = cli("--api-url", url, "apply", "--auto-approve")
    assert result.code == 1
    assert f"cannot reach the Prefect API at {url}" in result.err
    assert "Traceback" not in result.err


def test_a_wrong_api_key_is_reported_as_such(
    interop: Path, prefect_api: Proxy, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    prefect_api.token = "right-key"
    monkeypatch.setenv("PREFECT_API_KEY", "wrong-key")
    result = cli("plan")
    assert result.code == 1
    assert "the Prefect API refused the request (401" in result.err
    assert "check PREFECT_API_KEY" in result.err
    assert "wrong-key" not in result.err + result.out
    monkeypatch.setenv("PREFECT_API_KEY", "right-key")
    assert cli("plan").code == 0


def test_429_and_503_are_retried_and_each_object_applied_once(
    interop: Path, prefect_api: Proxy, prefect_server: PrefectServer, cli: Callable[..., Result]
) -> None:
    prefect_api.inject.extend([429, 503, 503, 429, 502])
    result = cli("apply", "--auto-approve")
    assert result.code == 0, result.err + result.out
    assert prefect_api.inject == []
    stored = PrefectBackend(prefect_server.url).read_deployments()
    assert sorted(d.name for d in stored) == [f"d{i:02d}" for i in range(20)]
    creates = [line for line in prefect_api.seen if line == "POST /api/deployments/"]
    assert len(creates) >= 20


def test_a_server_gone_mid_apply_fails_cleanly_and_a_rerun_converges(
    prefect_api: Proxy, prefect_server: PrefectServer, project: Callable[..., Path],
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    root = project({"flows/etl.py": FLOW})
    (root / "prefect.yaml").write_text(project_file(root))
    with proxy(prefect_server.url) as dying:
        dying.stop_after = 10  # the pool, its queues, the lock, then a few deployments
        monkeypatch.setenv("FLOWPLAN_API_URL", dying.url)
        broken = cli("apply", "--auto-approve")
    assert broken.code == 1
    assert "Traceback" not in broken.err
    assert "cannot reach the Prefect API" in broken.out + broken.err
    monkeypatch.setenv("FLOWPLAN_API_URL", prefect_server.url)
    unlocked = cli("force-unlock", "--yes")
    assert unlocked.code in (0, 1), unlocked.err
    again = cli("apply", "--auto-approve")
    assert again.code == 0, again.err + again.out
    stored = PrefectBackend(prefect_server.url).read_deployments()
    assert sorted(d.name for d in stored) == [f"d{i:02d}" for i in range(20)]
    assert cli("plan", "--detailed-exitcode").code == 0


def test_a_missing_pool_and_foreign_deployments(
    prefect_api: Proxy, prefect_server: PrefectServer, project: Callable[..., Path],
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    root = project({"flows/etl.py": FLOW})
    write(root, {"prefect.yaml": """
        name: mine
        deployments:
          - name: nightly
            entrypoint: flows/etl.py:etl
            work_pool: {name: nowhere}
    """})  # fmt: skip
    monkeypatch.setenv("FLOWPLAN_API_URL", prefect_api.url)
    missing = cli("plan")
    assert missing.code == 1
    assert "work pool 'nowhere' does not exist on the target" in missing.err

    backend = PrefectBackend(prefect_server.url)
    backend.create_work_pool("nowhere", "process")
    from flowplan.domain.specs import DeploymentSpec

    backend.upsert_deployments(
        [
            DeploymentSpec("etl", "nightly", work_pool_name="nowhere"),
            DeploymentSpec("etl", "by-hand", work_pool_name="nowhere"),
        ]
    )
    plan = cli("plan", "--prune")
    assert plan.code == 0, plan.err
    assert ("deployment 'etl/nightly' on the target was made by something other than flowplan"
            in plan.err)  # fmt: skip
    assert "by-hand" not in plan.out, "a deployment flowplan does not own must never be pruned"
    assert cli("apply", "--auto-approve", "--prune").code == 0
    assert sorted(d.name for d in backend.read_deployments()) == ["by-hand", "nightly"]


def test_a_field_the_server_does_not_know_is_explained(
    interop: Path, prefect_api: Proxy, cli: Callable[..., Result]
) -> None:
    """An older server refuses fields it does not have (422 `Extra inputs are not permitted`)."""
    assert cli("apply", "--auto-approve", "-n", "d00").code == 0
    (interop / "prefect.yaml").write_text(
        (interop / "prefect.yaml").read_text().replace("deployment 0", "changed")
    )
    body = json.dumps({"exception_message": "Invalid request received.", "exception_detail": [
        {"type": "extra_forbidden", "loc": ["body", "concurrency_options"],
         "msg": "Extra inputs are not permitted"}]})  # fmt: skip
    prefect_api.reset()
    prefect_api.inject.append((422, body, "PATCH /api/deployments/"))
    result = cli("apply", "--auto-approve", "-n", "d00")
    assert result.code == 1
    assert "concurrency_options: Extra inputs are not permitted" in result.out + result.err
    assert "another Prefect version" in result.out + result.err


def test_triggers_become_prefect_automations(
    prefect_api: Proxy, prefect_server: PrefectServer, project: Callable[..., Path],
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    root = project({"flows/etl.py": FLOW})
    text = """
        name: mine
        work_pools:
          - {name: p, type: process}
        deployments:
          - name: nightly
            entrypoint: flows/etl.py:etl
            work_pool: {name: p}
            triggers:
              - enabled: true
                match: {prefect.resource.id: my.resource}
                expect: [my.event]
                parameters: {n: 5}
    """
    write(root, {"prefect.yaml": text})
    monkeypatch.setenv("FLOWPLAN_API_URL", prefect_api.url)
    assert cli("apply", "--auto-approve").code == 0
    api = api_client(prefect_server.url)
    [automation] = api.post("automations/filter", json={}).json()
    deployment = api.get("deployments/name/etl/nightly").json()
    assert automation["name"] == "nightly__automation_1"
    assert automation["trigger"]["expect"] == ["my.event"]
    assert automation["trigger"]["match"] == {"prefect.resource.id": "my.resource"}
    assert automation["actions"][0]["deployment_id"] == deployment["id"]
    assert automation["actions"][0]["parameters"] == {"n": 5}
    prefect_api.reset()
    again = cli("plan", "--detailed-exitcode")
    assert again.code == 0, again.out  # the stored automation reads back as declared
    write(root, {"prefect.yaml": text.replace("my.event", "other.event")})
    changed = cli("plan", "--detailed-exitcode")
    assert changed.code == 2 and "~ triggers:" in changed.out, changed.out
    assert cli("apply", "--auto-approve").code == 0
    [replaced] = api.post("automations/filter", json={}).json()
    assert replaced["trigger"]["expect"] == ["other.event"]
    # one made by hand for the same deployment is not flowplan's: never touched
    hand = {**automation, "name": "by hand", "tags": []}
    for key in ("id", "created", "updated", "actions_on_trigger", "actions_on_resolve"):
        hand.pop(key, None)
    hand["trigger"] = {k: v for k, v in hand["trigger"].items() if k != "id"}
    assert api.post("automations/", json=hand).status_code == 201
    assert cli("plan", "--detailed-exitcode").code == 0
    write(root, {"prefect.yaml": text.split("            triggers:")[0]})
    assert cli("apply", "--auto-approve").code == 0
    assert [a["name"] for a in api.post("automations/filter", json={}).json()] == ["by hand"]


READ_SECRETS = """
import asyncio, json
from prefect.blocks.system import Secret
from prefect.utilities.templating import resolve_block_document_references
template = {"whole": "{{ prefect.blocks.secret.db }}",
            "field": "{{ prefect.blocks.secret.db.password }}",
            "text": "{{ prefect.blocks.secret.token }}"}
print(json.dumps({"get": Secret.load("db").get(), "token": Secret.load("token").get(),
                  "resolved": asyncio.run(resolve_block_document_references(template))}))
"""


def test_prefect_reads_a_json_secret_set_by_flowplan_as_an_object(
    prefect_server: PrefectServer, prefect_api: Proxy, tmp_path: Path
) -> None:
    """A secret holding a JSON object is stored as one (Prefect's Secret block with a dict), so
    Prefect's templating reads its fields as flowplan's does (stored as text, the field was
    refused: "Could not resolve the keypath"); other text stays text."""
    backend = PrefectBackend(prefect_api.url)
    backend.set_secret("db", '{"user": "app", "password": "pw-123"}')
    backend.set_secret("token", '["looks", "like", "JSON"]')  # not an object: text
    done = subprocess.run(
        [str(PREFECT.parent / "python"), "-c", READ_SECRETS], cwd=tmp_path,
        env=prefect_env(prefect_server.home, prefect_server.url), capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    read = json.loads(done.stdout.strip().splitlines()[-1])
    assert read["get"] == {"user": "app", "password": "pw-123"}
    assert read["token"] == ["looks", "like", "JSON"]  # Secret.get() parses any JSON text
    assert read["resolved"] == {"whole": {"user": "app", "password": "pw-123"},
                                "field": "pw-123", "text": '["looks", "like", "JSON"]'}  # fmt: skip
    # flowplan reads back the same JSON, and replacing it keeps the shape
    assert json.loads(backend.read_secret_value("db")) == {"user": "app", "password": "pw-123"}
    backend.set_secret("db", '{"password": "pw-456"}', overwrite=True)
    assert json.loads(backend.read_secret_value("db")) == {"password": "pw-456"}
    backend.close()
