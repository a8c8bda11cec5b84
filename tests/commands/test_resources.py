"""The resource commands (work-pool, work-queue, deployment, flow-run, variable, secret)
run in-process, with their exact messages and JSON output."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from flowplan.backends import get_backend
from flowplan.domain.specs import DeploymentSpec
from tests.conftest import Result

Cli = Callable[..., Result]


@pytest.fixture
def pool(cli: Cli) -> str:
    assert cli("work-pool", "create", "my-pool", "--type", "process").code == 0
    return "my-pool"


def deploy(*specs: DeploymentSpec) -> None:
    get_backend().upsert_deployments(list(specs))


def test_work_pool_create_prints_target_and_next_step(cli: Cli) -> None:
    result = cli("work-pool", "create", "my-pool", "--type", "process")
    assert result.code == 0
    assert result.out == (
        "Created work pool 'my-pool' of type 'process'.\n"
        "Start a worker for it with: flowplan worker start --pool 'my-pool'\n"
    )
    assert result.err.startswith("Target: local store ")


def test_work_pool_create_of_a_docker_pool_names_flowplans_docker_worker(cli: Cli) -> None:
    result = cli("work-pool", "create", "boxes", "--type", "docker")
    assert result.code == 0
    assert result.out == (
        "Created work pool 'boxes' of type 'docker'.\n"
        "Start a worker for it with: flowplan worker start --pool 'boxes'\n"
    )


def test_work_pool_create_of_a_type_no_flowplan_worker_serves_says_so(cli: Cli) -> None:
    result = cli("work-pool", "create", "cluster", "--type", "kubernetes")
    assert result.code == 0
    assert result.out == (
        "Created work pool 'cluster' of type 'kubernetes'.\n"
        "flowplan has no 'kubernetes' worker yet (worker types: docker, process): runs in pool"
        " 'cluster' wait until a worker of type 'kubernetes' polls it.\n"
    )


def test_work_pool_ls_table_and_json(cli: Cli, pool: str) -> None:
    cli("work-pool", "set-concurrency-limit", pool, "5")
    table = cli("work-pool", "ls")
    header = next(line for line in table.out.splitlines() if "Name" in line)
    assert [cell.strip() for cell in header.strip("┃ ").split("┃")] == [
        "Name", "Type", "ID", "Concurrency Limit",
    ]  # fmt: skip
    row = next(line for line in table.out.splitlines() if pool in line)
    assert "process" in row and "5" in row
    data = json.loads(cli("work-pool", "ls", "-o", "json").out)
    assert [(p["name"], p["type"], p["concurrency_limit"], p["status"]) for p in data] == [
        ("my-pool", "process", 5, "NOT_READY")
    ]


def test_work_pool_lifecycle(cli: Cli, pool: str) -> None:
    assert cli("work-pool", "pause", pool).out == "Work pool 'my-pool' paused.\n"
    assert json.loads(cli("work-pool", "inspect", pool, "-o", "json").out)["is_paused"] is True
    assert cli("work-pool", "resume", pool).out == "Work pool 'my-pool' resumed.\n"
    assert cli("work-pool", "clear-concurrency-limit", pool).code == 0
    text = cli("work-pool", "inspect", pool).out
    assert "type               process" in text
    assert cli("work-pool", "delete", pool, "--yes").out == "Deleted work pool 'my-pool'.\n"
    assert cli("work-pool", "ls", "-o", "json").out == "[]\n"


def test_work_pool_errors(cli: Cli, pool: str, tmp_path: Path) -> None:
    again = cli("work-pool", "create", pool, "--type", "process")
    assert (again.code, again.err.splitlines()[-1]) == (
        1, "Error: a work pool named 'my-pool' already exists (use 'work-pool update' or "
        "'work-pool create --overwrite')",
    )  # fmt: skip
    assert "did you mean 'my-pool'" in cli("work-pool", "inspect", "my-pol").err
    assert "did you mean 'docker'" in cli("work-pool", "create", "x", "--type", "dockr").err
    assert "must be at least 1, got 0" in cli("work-pool", "set-concurrency-limit", pool, "0").err
    assert "contains '/'" in cli("work-pool", "create", "a/b").err
    bad_json = tmp_path / "t.json"
    bad_json.write_text('{"job_configuration": ')
    result = cli("work-pool", "create", "x", "--base-job-template", str(bad_json))
    assert (
        result.code == 1
        and f"Error: {bad_json}:1:23: not valid JSON: Expecting value" in result.err
    )
    bad_template = tmp_path / "u.json"
    bad_template.write_text('{"job_configuration": {"c": "{{ nope }}"}, "variables": {}}')
    result = cli("work-pool", "update", pool, "--base-job-template", str(bad_template))
    assert "undeclared variable(s): nope" in result.err
    no_tty = cli("work-pool", "delete", pool)
    assert no_tty.code == 1 and "pass --yes to confirm" in no_tty.err


def test_work_pool_overwrite_and_template_file(cli: Cli, pool: str, tmp_path: Path) -> None:
    template = tmp_path / "t.json"
    assert cli("work-pool", "get-default-base-job-template", "--type", "process",
               "--file", str(template)).code == 0  # fmt: skip
    data = json.loads(template.read_text())
    data["variables"]["properties"]["env"]["default"] = {"A": "1"}
    template.write_text(json.dumps(data))
    result = cli("work-pool", "create", pool, "--base-job-template", str(template), "--overwrite")
    assert result.out == "Updated work pool 'my-pool'.\n"
    stored = json.loads(cli("work-pool", "inspect", pool, "-o", "json").out)
    assert stored["base_job_template"] == data
    changed_type = cli("work-pool", "create", pool, "--type", "docker", "--overwrite")
    assert "its type cannot change" in changed_type.err


def test_delete_pool_in_use_lists_deployments(cli: Cli, pool: str) -> None:
    deploy(DeploymentSpec("etl", "nightly", work_pool_name=pool))
    result = cli("work-pool", "delete", pool, "--yes")
    assert result.code == 1
    assert result.err.splitlines()[-1] == (
        "Error: work pool 'my-pool' is used by 1 deployment: etl/nightly "
        "(move or delete them first, or pass --force)"
    )
    assert cli("work-pool", "delete", pool, "--yes", "--force").code == 0


def test_default_template_printed(cli: Cli) -> None:
    printed = json.loads(cli("work-pool", "get-default-base-job-template", "-t", "kubernetes").out)
    assert "job_manifest" in printed["job_configuration"]


def test_work_queues(cli: Cli, pool: str) -> None:
    created = cli("work-queue", "create", "urgent", "--pool", pool, "--priority", "1", "-l", "2")
    assert created.out == "Created work queue 'urgent' in pool 'my-pool' (priority 1).\n"
    listed = json.loads(cli("work-queue", "ls", "--pool", pool, "-o", "json").out)
    assert [(q["name"], q["priority"], q["concurrency_limit"], q["status"]) for q in listed] == [
        ("urgent", 1, 2, "NOT_READY"), ("default", 2, None, "NOT_READY"),
    ]  # fmt: skip
    get_backend().mark_polled(pool, ["urgent"])
    cli("work-queue", "pause", "default", "--pool", pool)
    table = cli("work-queue", "ls", "--pool", pool).out
    assert [line.split("│")[5].strip() for line in table.splitlines() if line.startswith("│")] == [
        "READY", "PAUSED",
    ]  # fmt: skip
    assert cli("work-queue", "set-concurrency-limit", "urgent", "4", "-p", pool).code == 0
    assert (
        json.loads(cli("work-queue", "inspect", "urgent", "-p", pool, "-o", "json").out)[
            "concurrency_limit"
        ]
        == 4
    )
    missing = cli("work-queue", "inspect", "urgnt", "-p", pool)
    assert missing.err.splitlines()[-1] == (
        "Error: work queue 'urgnt' in work pool 'my-pool' not found (did you mean 'urgent'?)"
    )
    assert "default queue" in cli("work-queue", "delete", "default", "-p", pool, "-y").err
    assert cli("work-queue", "delete", "urgent", "-p", pool, "-y").code == 0
    no_pool = cli("work-queue", "create", "x")
    assert no_pool.code == 1 and "--pool" in no_pool.err


def test_deployment_commands(cli: Cli, pool: str) -> None:
    deploy(DeploymentSpec("etl", "nightly", work_pool_name=pool),
           DeploymentSpec("report", "nightly", work_pool_name=pool))  # fmt: skip
    listed = json.loads(cli("deployment", "ls", "-o", "json").out)
    assert [d["flow_name"] + "/" + d["name"] for d in listed] == ["etl/nightly", "report/nightly"]
    ambiguous = cli("deployment", "inspect", "nightly")
    assert ambiguous.err.splitlines()[-1] == (
        "Error: deployment name 'nightly' matches 2 flows: etl/nightly, report/nightly "
        "(use the full name 'flow-name/deployment-name')"
    )
    assert cli("deployment", "pause", "etl/nightly").out == "Paused deployment 'etl/nightly'.\n"
    inspected = json.loads(cli("deployment", "inspect", "etl/nightly", "-o", "json").out)
    assert inspected["paused"] is True
    assert cli("deployment", "resume", "etl/nightly").code == 0
    table = cli("deployment", "ls").out
    assert "etl/nightly" in table and "report/nightly" in table
    get_backend().mark_polled(pool)  # a worker polled: ls and inspect both say READY
    rows = [line for line in cli("deployment", "ls").out.splitlines() if "nightly" in line]
    assert all(" no " in row.replace("│", " ") and "READY" in row and "NOT_READY" not in row
               for row in rows), rows  # fmt: skip
    assert json.loads(cli("deployment", "inspect", "etl/nightly", "-o", "json").out)[
        "status"] == "READY"  # fmt: skip
    assert cli("deployment", "delete", "etl/nightly", "-y").code == 0
    assert "did you mean 'report/nightly'" in cli("deployment", "inspect", "etl/nightly").err


def test_deployment_schedules(cli: Cli, pool: str) -> None:
    deploy(DeploymentSpec("etl", "nightly", work_pool_name=pool))
    created = cli("deployment", "schedule", "create", "etl/nightly", "--cron", "0 2 * * *",
                  "--timezone", "Europe/Berlin", "--slug", "nightly")  # fmt: skip
    assert created.out == (
        "Created schedule 'nightly' (cron '0 2 * * *' (Europe/Berlin)) on 'etl/nightly'.\n"
    )
    cli("deployment", "schedule", "create", "etl/nightly", "--interval", "PT1H")
    listed = json.loads(cli("deployment", "schedule", "ls", "etl/nightly", "-o", "json").out)
    assert [s["schedule"] for s in listed] == [
        {"interval": 3600, "anchor_date": None, "timezone": None},
        {"cron": "0 2 * * *", "timezone": "Europe/Berlin", "day_or": True},
    ]
    assert cli("deployment", "schedule", "pause", "etl/nightly", "nightly").out == (
        "Paused schedule 'nightly' of 'etl/nightly'.\n"
    )
    paused = json.loads(cli("deployment", "schedule", "ls", "etl/nightly", "-o", "json").out)
    assert [s["active"] for s in paused if s["slug"] == "nightly"] == [False]
    bad = cli("deployment", "schedule", "create", "etl/nightly", "--cron", "61 * * * *")
    assert bad.err.splitlines()[-1].startswith(
        "Error: --cron: invalid cron expression '61 * * * *' (minute"
    )
    both = cli("deployment", "schedule", "create", "etl/nightly", "--cron", "* * * * *",
               "--rrule", "FREQ=DAILY")  # fmt: skip
    assert "exactly one of --cron, --interval or --rrule" in both.err
    assert "did you mean 'nightly'" in cli("deployment", "schedule", "resume", "etl/nightly",
                                           "nightlt").err  # fmt: skip
    assert cli("deployment", "schedule", "delete", "etl/nightly", "nightly", "-y").code == 0


def test_flow_run_commands(cli: Cli, pool: str) -> None:
    deploy(DeploymentSpec("etl", "nightly", work_pool_name=pool))
    backend = get_backend()
    run = backend.create_flow_run("etl/nightly", name="brisk-otter")
    listed = json.loads(cli("flow-run", "ls", "--state", "scheduled", "-o", "json").out)
    assert [(r["name"], r["state"]["type"]) for r in listed] == [("brisk-otter", "SCHEDULED")]
    assert json.loads(cli("flow-run", "ls", "--state", "RUNNING", "-o", "json").out) == []
    assert "unknown state 'done'" in cli("flow-run", "ls", "--state", "done").err
    assert cli("flow-run", "cancel", run.id).out == "Flow run 'brisk-otter' is now Cancelled.\n"
    assert "nothing to cancel" in cli("flow-run", "cancel", run.id).err
    assert json.loads(cli("flow-run", "inspect", run.id, "-o", "json").out)["name"] == (
        "brisk-otter"
    )
    assert "not found" in cli("flow-run", "inspect", "nope").err
    assert cli("flow-run", "logs", run.id).out == ""
    assert cli("flow-run", "delete", run.id, "-y").out == "Deleted flow run 'brisk-otter'.\n"


def test_variables(cli: Cli) -> None:
    assert cli("variable", "set", "region", "eu-west-1").out == "Set variable 'region'.\n"
    cli("variable", "set", "sizes", "[1, 2]")
    assert cli("variable", "get", "region").out == "eu-west-1\n"
    assert cli("variable", "get", "sizes").out == "[1, 2]\n"
    assert "--overwrite" in cli("variable", "set", "region", "x").err
    assert cli("variable", "set", "region", "us", "--overwrite").code == 0
    listed = json.loads(cli("variable", "ls", "-o", "json").out)
    assert [(v["name"], v["value"]) for v in listed] == [("region", "us"), ("sizes", [1, 2])]
    assert "did you mean 'region'" in cli("variable", "get", "regon").err
    assert cli("variable", "unset", "region", "-y").out == "Deleted variable 'region'.\n"


def test_secrets_never_appear_in_output(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("hunter2-secret\n"))
    stored = cli("secret", "set", "db-password")
    assert stored.out == "Stored secret 'db-password'.\n"
    outputs = [stored, cli("secret", "ls"), cli("secret", "ls", "-o", "json")]
    assert all("hunter2" not in r.out + r.err for r in outputs)
    assert json.loads(outputs[2].out)[0]["name"] == "db-password"
    assert get_backend().read_secret_value("db-password") == "hunter2-secret"
    monkeypatch.setattr("sys.stdin", io.StringIO("other-value\n"))
    again = cli("secret", "set", "db-password")
    assert again.code == 1 and "secret 'db-password' already exists (pass --overwrite" in again.err
    replaced = cli("secret", "set", "db-password", "--overwrite")
    assert replaced.out == "Replaced secret 'db-password'.\n"
    assert get_backend().read_secret_value("db-password") == "other-value"
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert "is empty" in cli("secret", "set", "empty").err
    too_many = cli("secret", "set", "x", "value-as-argument")
    assert too_many.code == 1 and "Got unexpected extra argument" in too_many.err
    assert cli("secret", "delete", "db-password", "-y").code == 0
    assert "not found" in cli("secret", "delete", "db-password", "-y").err
