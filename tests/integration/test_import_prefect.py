"""`flowplan import` from a real Prefect server: deployments made by Prefect's own
`prefect deploy` become prefect.yaml, plan finds no changes, and apply takes them over keeping
their ids, their schedules (by slug and flag) and their runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from flowplan.backends.prefect import PrefectBackend
from flowplan.plan.specs import OWNER_LABEL, PROJECT_LABEL
from flowplan.project.loader import load_file
from tests.conftest import Result
from tests.prefect_server import PrefectServer, Proxy

FLOW = '''\
from prefect import flow


@flow
def etl(n: int = 1, name: str = "x"):
    """Load things."""
    return n


@flow(name="daily-report")
def report(day: str = "today"):
    print(day)
'''


def source_file(root: Path) -> str:
    return f"""\
name: made-by-prefect
prefect-version: 3.9.1
pull:
- prefect.deployments.steps.set_working_directory:
    directory: {root}
deployments:
- name: nightly
  entrypoint: flows/etl.py:etl
  parameters: {{n: 5}}
  tags: [team-a, "on"]
  work_pool: {{name: interop-pool, work_queue_name: fast, job_variables: {{env: {{MODE: "yes"}}}}}}
  schedules:
  - {{cron: "0 3 * * *", timezone: Europe/Berlin, slug: nightly}}
  - {{interval: 600, slug: often, active: false}}
- name: weekly
  description: Once a week
  entrypoint: flows/etl.py:report
  parameters: {{day: monday}}
  work_pool: {{name: interop-pool}}
"""


def test_deployments_made_by_prefect_deploy_are_imported_and_taken_over(
    prefect_api: Proxy, prefect_server: PrefectServer, project: Callable[..., Path],
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    root = project({"flows/etl.py": FLOW})
    (root / "source.yaml").write_text(source_file(root))
    made = prefect_server.cli("work-pool", "create", "interop-pool", "--type", "process",
                              cwd=root, url=prefect_api.url)  # fmt: skip
    assert made.returncode == 0, made.stderr
    made = prefect_server.cli("work-queue", "create", "fast", "--pool", "interop-pool",
                              "--priority", "1", cwd=root, url=prefect_api.url)  # fmt: skip
    assert made.returncode == 0, made.stderr
    made = prefect_server.cli("--no-prompt", "deploy", "--all", "--prefect-file", "source.yaml",
                              cwd=root, url=prefect_api.url)  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    (root / "source.yaml").unlink()
    monkeypatch.setenv("FLOWPLAN_API_URL", prefect_api.url)
    backend = PrefectBackend(prefect_api.url)
    run = backend.create_flow_run("etl/nightly", parameters={"n": 7})
    before = {d.full_name: (d.id, sorted((s.slug, s.active) for s in d.schedules))
              for d in backend.read_deployments()}  # fmt: skip
    assert sorted(before) == ["daily-report/weekly", "etl/nightly"]

    prefect_api.reset()
    imported = cli("import")
    assert imported.code == 0, imported.err
    assert prefect_api.writes() == [], "import wrote to the server"
    assert [w for w in imported.err.splitlines() if w.startswith("warning")] == []
    data = load_file(root / "prefect.yaml").data
    assert data["name"] == "proj"
    weekly, nightly = data["deployments"]  # by flow, then name
    assert nightly["entrypoint"] == "flows/etl.py:etl" and nightly["parameters"] == {"n": 5}
    assert nightly["work_pool"] == {"name": "interop-pool", "work_queue_name": "fast",
                                    "job_variables": {"env": {"MODE": "yes"}}}  # fmt: skip
    assert weekly["description"] == "Once a week" and "pull" not in weekly
    # the server's process template is not flowplan's default: kept as a file beside
    assert data["work_pools"] == [{"name": "interop-pool", "type": "process",
                                   "base_job_template": "interop-pool.job-template.json",
                                   "queues": [{"name": "fast", "priority": 1}]}]  # fmt: skip
    template = json.loads((root / "interop-pool.job-template.json").read_text())
    assert template == backend.read_work_pool("interop-pool").base_job_template

    planned = cli("plan", "--detailed-exitcode")
    assert planned.code == 0, planned.out + planned.err
    assert planned.out.splitlines()[-1] == (
        "Plan: 0 to add, 0 to change, 0 to destroy, 2 to take over."
    )
    applied = cli("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    after = {d.full_name: (d.id, sorted((s.slug, s.active) for s in d.schedules))
             for d in backend.read_deployments()}  # fmt: skip
    assert after == before
    for deployment in backend.read_deployments():
        assert deployment.labels[OWNER_LABEL] == "flowplan"
        assert deployment.labels[PROJECT_LABEL] == "proj"
    assert backend.read_flow_run(run.id).deployment_id == before["etl/nightly"][0]
    prefect_api.reset()
    again = cli("plan", "--detailed-exitcode", "--prune")
    assert again.code == 0, again.out + again.err
    assert again.out.splitlines()[-1] == "Plan: 0 to add, 0 to change, 0 to destroy."
    assert httpx.get(f"{prefect_api.url}/health").status_code == 200


LIMITED = """\
name: limited
deployments:
- name: one-at-a-time
  entrypoint: flows/etl.py:etl
  concurrency_limit: {limit: 1, collision_strategy: CANCEL_NEW}
  work_pool: {name: limited-pool}
work_pools:
- name: limited-pool
  type: process
"""


def test_a_concurrency_limit_with_a_strategy_plans_no_change_and_round_trips(
    prefect_api: Proxy, project: Callable[..., Path], cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # Prefect 3.9 reads the options back with grace_period_seconds: null added
    root = project({"flows/etl.py": FLOW, "prefect.yaml": LIMITED})
    monkeypatch.setenv("FLOWPLAN_API_URL", prefect_api.url)
    applied = cli("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    planned = cli("plan", "--detailed-exitcode")
    assert planned.code == 0, planned.out + planned.err
    (root / "prefect.yaml").write_text(LIMITED.partition("deployments:")[0] + "work_pools:"
                                       + LIMITED.partition("work_pools:")[2])  # fmt: skip
    imported = cli("import")
    assert imported.code == 0, imported.err
    assert "warning" not in imported.err
    (entry,) = load_file(root / "prefect.yaml").data["deployments"]
    assert entry["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
    planned = cli("plan", "--detailed-exitcode")
    assert planned.code == 0, planned.out + planned.err


def test_new_deployments_sharing_a_new_queue_apply_at_once(
    prefect_api: Proxy, project: Callable[..., Path], cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # the server makes a queue a deployment names when the pool lacks it: two such writes at
    # once collided on PostgreSQL (a unique constraint: 409 "Data integrity conflict")
    lines = ["name: queued", "deployments:"]
    for i in range(12):
        lines += [f"- name: d{i:02d}", "  entrypoint: flows/etl.py:etl",
                  "  work_pool: {name: queued-pool, work_queue_name: helm}"]  # fmt: skip
    lines += ["work_pools:", "- name: queued-pool", "  type: process"]
    project({"flows/etl.py": FLOW, "prefect.yaml": "\n".join(lines) + "\n"})
    monkeypatch.setenv("FLOWPLAN_API_URL", prefect_api.url)
    applied = cli("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert "Apply complete: 13 added" in applied.out
    deployments = PrefectBackend(prefect_api.url).read_deployments()
    assert sorted((d.name, d.work_queue_name) for d in deployments) == [
        (f"d{i:02d}", "helm") for i in range(12)
    ]
    planned = cli("plan", "--detailed-exitcode")
    assert planned.code == 0, planned.out + planned.err
