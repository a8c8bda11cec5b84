"""Flow runs by name in every flow-run command; what `deployment run -q` and `deployment
inspect` say."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from flowplan.backends import get_backend
from flowplan.domain.objects import StateType
from flowplan.domain.specs import DeploymentSpec
from tests.conftest import Result

Cli = Callable[..., Result]


@pytest.fixture
def deployed(cli: Cli) -> str:
    assert cli("work-pool", "create", "my-pool", "--type", "process").code == 0
    get_backend().upsert_deployments([DeploymentSpec("etl", "nightly", work_pool_name="my-pool")])
    return "etl/nightly"


def test_every_flow_run_command_takes_a_name(cli: Cli, deployed: str) -> None:
    backend = get_backend()
    run = backend.create_flow_run(deployed, name="humble-heron")
    backend.create_flow_run(deployed, name="other-run")
    assert json.loads(cli("flow-run", "inspect", "humble-heron", "-o", "json").out)["id"] == run.id
    logs = cli("flow-run", "logs", "humble-heron")
    assert (logs.code, logs.out) == (0, "")
    assert cli("flow-run", "cancel", "humble-heron").out == (
        "Flow run 'humble-heron' is now Cancelled.\n"
    )
    assert backend.read_flow_run(run.id).state.type is StateType.CANCELLED
    assert cli("flow-run", "delete", "humble-heron", "-y").out == (
        "Deleted flow run 'humble-heron'.\n"
    )
    assert [r.name for r in backend.read_flow_runs()] == ["other-run"]
    missing = cli("flow-run", "logs", "humble-heron")
    assert missing.code == 1
    assert missing.err.splitlines()[-1] == (
        "Error: flow run 'humble-heron' not found (neither the id nor the name of a run)"
        " (list runs with: flowplan flow-run ls)"
    )


def test_a_name_two_runs_share_is_an_error_listing_their_ids(cli: Cli, deployed: str) -> None:
    backend = get_backend()
    first = backend.create_flow_run(deployed, name="twin")
    second = backend.create_flow_run(deployed, name="twin")
    result = cli("flow-run", "inspect", "twin")
    assert result.code == 1
    last = result.err.splitlines()[-1]
    assert last.startswith("Error: 2 flow runs are named 'twin'; give one of their ids: ")
    assert first.id in last and second.id in last
    assert json.loads(cli("flow-run", "inspect", first.id, "-o", "json").out)["id"] == first.id


def test_a_run_in_a_queue_the_pool_lacks_creates_it_and_says_so(cli: Cli, deployed: str) -> None:
    """Prefect's server creates the queue (create_flow_run_from_deployment looks the queue up
    with create_queue_if_not_found=True): flowplan does the same, but not silently."""
    result = cli("deployment", "run", deployed, "-q", "nope")
    assert result.code == 0, result.err
    assert (
        "Note: work pool 'my-pool' has no queue 'nope' (its queues: default); it is created for"
        " this run, as Prefect does."
    ) in result.err
    assert "my-pool/nope" in result.out
    assert [q.name for q in get_backend().read_work_queues("my-pool")] == ["default", "nope"]
    again = cli("deployment", "run", deployed, "-q", "nope")
    assert again.code == 0 and "Note:" not in again.err


def test_deployment_inspect_shows_the_next_scheduled_runs(cli: Cli, deployed: str) -> None:
    made = cli("deployment", "schedule", "create", deployed, "--cron", "30 7 * * *",
               "--timezone", "Asia/Tokyo")  # fmt: skip
    assert made.code == 0, made.err
    cli("deployment", "schedule", "create", deployed, "--interval", "600")
    cli("deployment", "schedule", "pause", deployed,
        next(s.slug for s in get_backend().read_deployment(deployed).schedules
         if s.schedule.to_json().get("interval")))  # fmt: skip
    now = datetime.now(UTC)
    shown = json.loads(cli("deployment", "inspect", deployed, "-o", "json").out)["next_runs"]
    times = [datetime.fromisoformat(text) for text in shown]
    assert len(times) == 3 and times == sorted(times) and times[0] > now
    assert times[2] - times[0] == timedelta(days=2)  # daily, the paused interval left out
    assert all(t.astimezone(ZoneInfo("Asia/Tokyo")).time() == time(7, 30) for t in times)
    text = cli("deployment", "inspect", deployed).out
    [line] = [line for line in text.splitlines() if line.startswith("next_runs ")]
    assert line.split(None, 1)[1] == json.dumps(shown)
    cli("deployment", "pause", deployed)
    assert json.loads(cli("deployment", "inspect", deployed, "-o", "json").out)["next_runs"] == []
