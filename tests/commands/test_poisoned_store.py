"""A store holding a row flowplan cannot read (written by an older flowplan: JSON `Infinity`,
an interval of 0, an unknown time zone) still works: the row is reported with how to fix it,
everything else keeps working, and the fix it names works. Each test poisons a real store with
sqlite3, as an older version left it, then runs the real commands."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from flowplan.backends import get_backend
from flowplan.backends.local import STORE_FILE
from flowplan.domain.clock import utcnow
from flowplan.runtime import scheduler
from tests.conftest import Result

Cli = Callable[..., Result]

FLOW = """
from flowplan import flow

@flow
def f(cfg: dict = {}):
    pass
"""
PROJECT = """
name: demo
work_pools:
  - name: local
    type: process
deployments:
  - name: good
    entrypoint: flows/f.py:f
    work_pool: {name: local}
    schedules: [{interval: 3600, slug: hourly}]
  - name: bad
    entrypoint: flows/f.py:f
    parameters: {cfg: {v: 1}}
    work_pool: {name: local}
    schedules: [{interval: 60, slug: minutely, timezone: Europe/Berlin}]
"""
FIX = (
    "delete it with 'flowplan deployment delete f/bad', or apply the project that declares it"
    " again to replace it"
)
# what an older flowplan could store, and the reason each gives
POISONS = {
    "infinity": (
        "UPDATE deployments SET parameters = '{\"cfg\":{\"v\":Infinity}}' WHERE name = 'bad'",
        "parameters is not valid JSON (NaN or Infinity, stored by an older flowplan)",
    ),
    "nan-in-a-schedule": (
        "UPDATE deployment_schedules SET parameters = '{\"n\":NaN}' WHERE slug = 'minutely'",
        "schedule 'minutely' is not valid JSON (NaN or Infinity, stored by an older flowplan)",
    ),
    "interval-0": (
        "UPDATE deployment_schedules SET schedule = json_set(schedule, '$.interval', 0)"
        " WHERE slug = 'minutely'",
        "schedule 'minutely': interval must be greater than 0, got 0",
    ),
    "unknown-zone": (
        "UPDATE deployment_schedules SET schedule = json_set(schedule, '$.timezone',"
        " 'Mars/Olympus_Mons') WHERE slug = 'minutely'",
        "schedule 'minutely': unknown time zone 'Mars/Olympus_Mons'",
    ),
}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / ".flowplan-home"


@pytest.fixture(params=sorted(POISONS))
def poisoned(
    request: pytest.FixtureRequest, cli: Cli, project: Callable[..., Path], home: Path
) -> str:
    """An applied project whose deployment 'f/bad' was then poisoned; the reason it gives."""
    project({"flows/f.py": FLOW, "prefect.yaml": PROJECT})
    assert cli("apply", "--auto-approve").code == 0
    statement, reason = POISONS[request.param]
    with sqlite3.connect(home / STORE_FILE) as conn:
        assert conn.execute(statement).rowcount == 1
    return reason


def _warning(reason: str) -> str:
    return (
        f"warning: deployment 'f/bad' in the store cannot be read: {reason}; it is left out ({FIX})"
    )


def test_listing_leaves_the_row_out_and_says_how_to_fix_it(cli: Cli, poisoned: str) -> None:
    listed = cli("deployment", "ls")
    assert listed.code == 0
    assert "f/good" in listed.out and "f/bad" not in listed.out
    assert listed.err.splitlines() == [_warning(poisoned)]
    as_json = cli("deployment", "ls", "-o", "json")
    assert as_json.code == 0
    names = {d["name"] for d in json.loads(as_json.out)}
    assert "good" in names  # the JSON listing has what SQLite can still read
    assert cli("deployment", "inspect", "f/good").code == 0


def test_asking_for_the_row_is_a_clear_error_and_the_rest_works(cli: Cli, poisoned: str) -> None:
    for args in (("deployment", "run", "f/bad"), ("deployment", "pause", "f/bad"),
                 ("deployment", "schedule", "ls", "f/bad")):  # fmt: skip
        result = cli(*args)
        assert result.code == 1, (args, result)
        assert result.err.splitlines()[-1] == (
            f"Error: deployment 'f/bad' in the store cannot be read: {poisoned} ({FIX})"
        )
    inspected = cli("deployment", "inspect", "f/bad", "-o", "json")
    if "not valid JSON" in poisoned:  # SQLite cannot read the row at all
        assert inspected.code == 1, inspected
        assert inspected.err.splitlines()[-1] == (
            f"Error: deployment 'f/bad' in the store cannot be read: {poisoned} ({FIX})"
        )
    else:  # only its schedule is bad: inspect shows why the scheduler skips it
        assert inspected.code == 0, inspected
        document = json.loads(inspected.out)
        assert document["schedules"] == []
        assert [(s["slug"], s["problem"]) for s in document["skipped_schedules"]] == [
            ("minutely", f"ValueError: {poisoned}")
        ]
    ran = cli("deployment", "run", "f/good")
    assert ran.code == 0, ran
    assert "Created flow run" in ran.out


def test_delete_removes_the_row_it_cannot_read(cli: Cli, poisoned: str) -> None:
    deleted = cli("deployment", "delete", "f/bad", "--yes")
    assert deleted.code == 0, deleted
    assert deleted.out == "Deleted deployment 'f/bad'.\n"
    after = cli("deployment", "ls")
    assert after.code == 0 and after.err == ""
    assert [d.full_name for d in get_backend().read_deployments()] == ["f/good"]


def test_plan_warns_and_apply_replaces_the_row(cli: Cli, poisoned: str) -> None:
    plan = cli("plan")
    assert plan.code == 0, plan
    assert _warning(poisoned) in plan.err.splitlines()
    assert "+ deployment 'f/bad'" in plan.out
    before = get_backend().read_deployment("f/good").id
    applied = cli("apply", "--auto-approve")
    assert applied.code == 0, applied
    clean = cli("deployment", "ls")
    assert clean.code == 0 and clean.err == ""
    backend = get_backend()
    repaired = backend.read_deployment("f/bad")
    assert repaired.parameters == {"cfg": {"v": 1}}
    assert [s.schedule.to_json()["interval"] for s in repaired.schedules] == [60]
    assert backend.read_deployment("f/good").id == before
    assert cli("plan", "--detailed-exitcode").code == 0  # nothing left to change


def test_the_scheduler_fills_the_other_schedules(
    poisoned: str, recwarn: pytest.WarningsRecorder, home: Path
) -> None:
    backend = get_backend()
    result = scheduler.tick(backend, utcnow())
    good = backend.read_deployment("f/good").id
    runs = backend.read_flow_runs(deployment=good, limit=100)
    assert result.inserted == len(runs) > 0
    assert all(r.expected_start_time < utcnow() + timedelta(days=101) for r in runs)
    if poisoned.startswith("schedule 'minutely': "):
        # SQLite reads the row and flowplan cannot: the scheduler skips it and reports why
        [skipped] = result.skipped
        with sqlite3.connect(home / STORE_FILE) as conn:
            [(bad,)] = conn.execute("SELECT id FROM deployments WHERE name = 'bad'").fetchall()
        assert skipped.deployment_id == bad
        assert poisoned.removeprefix("schedule 'minutely': ") in skipped.problem
    else:  # a row SQLite refuses is left out with a warning
        assert any("'f/bad' in the store cannot be read" in str(w.message) for w in recwarn)


def test_a_worker_runs_the_rest_and_crashes_only_the_run_it_cannot_read(
    cli: Cli, project: Callable[..., Path], home: Path
) -> None:
    root = project({"flows/f.py": FLOW, "prefect.yaml": PROJECT})
    assert cli("apply", "--auto-approve").code == 0
    bad_run = get_backend().create_flow_run("f/bad")
    good_run = get_backend().create_flow_run("f/good")
    with sqlite3.connect(home / STORE_FILE) as conn:
        for statement, _ in (POISONS["infinity"], POISONS["interval-0"]):
            conn.execute(statement)
    worker = subprocess.run(
        [sys.executable, "-m", "flowplan", "worker", "start", "--pool", "local", "--run-once"],
        cwd=root, env={**os.environ, "FLOWPLAN_HOME": str(home), "NO_COLOR": "1"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert worker.returncode == 0, worker
    # the scheduler skips the schedule it cannot read and says why
    assert ("skipped: ValueError: schedule 'minutely': interval must be greater than 0, got 0"
            in worker.stdout)  # fmt: skip
    backend = get_backend()
    assert backend.read_flow_run(good_run.id).state.name == "Completed"
    crashed = backend.read_flow_run(bad_run.id).state
    assert crashed.name == "Crashed"
    assert "deployment 'f/bad' in the store cannot be read" in (crashed.message or "")
    assert len(backend.read_flow_runs(deployment="f/good", limit=50)) > 1  # the scheduler ran
