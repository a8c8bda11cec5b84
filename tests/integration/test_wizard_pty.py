"""The real `flowplan` process in a pseudo-terminal: `init` then the `deploy` wizard."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
import pytest

from flowplan.backends.local import LocalBackend
from tests.servers import git

FLOWPLAN = str(Path(sys.executable).with_name("flowplan"))
FLOW = "from prefect import flow\n\n\n@flow\ndef etl(n: int = 1):\n    print(n)\n"
DOWN, ENTER, CTRL_C = "\x1b[B", "\r", "\x03"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "flows-repo"
    (root / "flows").mkdir(parents=True)
    (root / "flows" / "etl.py").write_text(FLOW)
    git("init", "-q", "-b", "main", cwd=root)
    git("remote", "add", "origin", "https://example.com/team/flows-repo.git", cwd=root)
    return root


def spawn(root: Path, *args: str) -> pexpect.spawn:
    env = {**os.environ, "FLOWPLAN_HOME": str(root.parent / "home"), "NO_COLOR": "1",
           "COLUMNS": "120", "TERM": "xterm"}  # fmt: skip
    return pexpect.spawn(FLOWPLAN, list(args), cwd=str(root), env=env, encoding="utf-8",
                         timeout=30, dimensions=(50, 120))  # fmt: skip


def answer(child: pexpect.spawn, question: str, *keys: str) -> None:
    child.expect(question)
    for key in keys:
        child.send(key)


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return int(child.exitstatus if child.exitstatus is not None else -child.signalstatus)


def store(root: Path) -> LocalBackend:
    return LocalBackend(root.parent / "home" / "flowplan.db")


def test_first_deploy_in_a_fresh_repository_pressing_enter_everywhere(repo: Path) -> None:
    store(repo).create_work_pool("only-pool", "process")
    init = spawn(repo, "init")
    assert finish(init) == 0
    initial = (repo / "prefect.yaml").read_text()
    assert "# the pull section: how this project is fetched where its flows run" in initial
    child = spawn(repo, "deploy")
    for question in ("Which flow", "Deployment name", "add a schedule", "Which work pool",
                     "Apply these changes", "Save this deployment"):  # fmt: skip
        answer(child, question, ENTER)
    assert finish(child) == 0, child.before
    [deployment] = store(repo).read_deployments()
    assert (deployment.full_name, deployment.work_pool_name) == ("etl/default", "only-pool")
    # init wrote a git_clone pull step (the remote); the wizard did not ask again
    assert deployment.pull_steps == [{"prefect.deployments.steps.git_clone": {
        "repository": "https://example.com/team/flows-repo.git", "branch": "main",
        "access_token": None}}]  # fmt: skip
    expected = initial.replace(
        """deployments:
- name: null
  version: null
  tags: []
  description: null
  schedule: {}
  flow_name: null
  entrypoint: null
  parameters: {}
  work_pool:
    name: null
    work_queue_name: null
    job_variables: {}
""",
        """deployments:
- name: default
  entrypoint: flows/etl.py:etl
  work_pool:
    name: only-pool
""",
    )
    assert expected != initial
    assert (repo / "prefect.yaml").read_text() == expected  # byte for byte, comments kept
    again = spawn(repo, "plan", "--detailed-exitcode")
    assert finish(again) == 0, "the saved file must apply unchanged"


def test_a_deploy_that_creates_a_pool_with_a_cron_schedule(repo: Path) -> None:
    (repo / "prefect.yaml").write_text(
        "# our team's flows\nname: team\n\ndeployments: []  # filled in by the wizard (the comment keeps its column)\n"
    )
    child = spawn(repo, "deploy", "-n", "nightly")
    answer(child, "Which flow", ENTER)
    answer(child, "add a schedule", "y")
    answer(child, "What kind of schedule", DOWN, ENTER)  # cron
    answer(child, "Cron expression", "0 3 * * *", ENTER)
    answer(child, "Time zone", "Europe/Berlin", ENTER)
    answer(child, "Activate this schedule", ENTER)
    answer(child, "Add another schedule", ENTER)
    answer(child, "Which work pool", ENTER)  # no pools yet: only "Create a new work pool"
    answer(child, "Name of the new work pool", "etl-pool", ENTER)
    answer(child, "Type of work pool", ENTER)  # process
    answer(child, "Should workers pull", "n")
    answer(child, "Apply these changes", ENTER)
    answer(child, "Save this deployment", ENTER)
    assert finish(child) == 0, child.before
    backend = store(repo)
    assert [(p.name, p.type) for p in backend.read_work_pools()] == [("etl-pool", "process")]
    deployment = backend.read_deployment("etl/nightly")
    assert [(s.schedule.to_json(), s.active) for s in deployment.schedules] == [
        ({"cron": "0 3 * * *", "timezone": "Europe/Berlin", "day_or": True}, True)
    ]
    assert (
        (repo / "prefect.yaml").read_text()
        == f"""\
# our team's flows
name: team

deployments:     # filled in by the wizard (the comment keeps its column)
- name: nightly
  entrypoint: flows/etl.py:etl
  schedules:
  - cron: 0 3 * * *
    timezone: Europe/Berlin
    active: true
  work_pool:
    name: etl-pool
  pull:
  - prefect.deployments.steps.set_working_directory:
      directory: {repo}
work_pools:
- name: etl-pool
  type: process
"""
    )


def test_a_typed_answer_replaces_the_default_shown_as_a_hint(repo: Path) -> None:
    store(repo).create_work_pool("only-pool", "process")
    (repo / "prefect.yaml").write_text("name: team\n")
    child = spawn(repo, "deploy", "--no-save")
    answer(child, "Which flow", ENTER)
    child.expect("Deployment name")
    child.expect("default")  # the hint, drawn in the empty box
    child.send("nightly")
    child.send(ENTER)
    answer(child, "add a schedule", "y")
    answer(child, "What kind of schedule", ENTER)  # interval, hint 3600
    answer(child, "Seconds between runs", "60", ENTER)
    answer(child, "Time zone", ENTER)  # the hint, UTC, accepted with Enter
    answer(child, "Activate this schedule", ENTER)
    answer(child, "Add another schedule", ENTER)
    answer(child, "Which work pool", ENTER)
    answer(child, "Should workers pull", ENTER)
    answer(child, "private repository", ENTER)
    answer(child, "Apply these changes", ENTER)
    assert finish(child) == 0, child.before
    deployment = store(repo).read_deployment("etl/nightly")
    assert [(s.schedule.to_json(), s.active) for s in deployment.schedules] == [
        ({"interval": 60.0, "anchor_date": None, "timezone": "UTC"}, True)
    ]


def test_ctrl_c_halfway_writes_and_deploys_nothing(repo: Path) -> None:
    store(repo).create_work_pool("only-pool", "process")
    (repo / "prefect.yaml").write_text("name: team\n")
    child = spawn(repo, "deploy")
    answer(child, "Which flow", ENTER)
    answer(child, "Deployment name", ENTER)
    answer(child, "add a schedule", ENTER)
    answer(child, "Which work pool", CTRL_C)
    assert finish(child) == 130
    assert (repo / "prefect.yaml").read_text() == "name: team\n"
    assert store(repo).read_deployments() == []


def test_answering_no_to_the_plan_is_a_normal_exit_with_nothing_done(repo: Path) -> None:
    store(repo).create_work_pool("only-pool", "process")
    (repo / "prefect.yaml").write_text("name: team\n")
    child = spawn(repo, "deploy", "-n", "d", "--no-save")
    for question in (
        "Which flow",
        "add a schedule",
        "Which work pool",
        "Should workers pull",
        "private repository",
    ):
        answer(child, question, ENTER)
    answer(child, "Apply these changes", "n")
    assert finish(child) == 1
    assert "not confirmed; nothing was deployed" in str(child.before)
    assert store(repo).read_deployments() == []
    assert (repo / "prefect.yaml").read_text() == "name: team\n"


def test_a_concurrency_limit_given_to_the_wizard_is_deployed_and_saved(repo: Path) -> None:
    store(repo).create_work_pool("only-pool", "process")
    (repo / "prefect.yaml").write_text("name: team\n")
    child = spawn(repo, "deploy", "-n", "capped", "-cl", "2", "--collision-strategy", "CANCEL_NEW")
    for question in (
        "Which flow",
        "add a schedule",
        "Which work pool",
        "Should workers pull",
        "private repository",
        "Apply these changes",
        "Save this deployment",
    ):
        answer(child, question, ENTER)
    assert finish(child) == 0, child.before
    deployment = store(repo).read_deployment("etl/capped")
    assert (deployment.concurrency_limit, deployment.concurrency_options) == (
        2, {"collision_strategy": "CANCEL_NEW"})  # fmt: skip
    assert "concurrency_limit:\n    limit: 2\n    collision_strategy: CANCEL_NEW\n" in (
        repo / "prefect.yaml").read_text()  # fmt: skip
