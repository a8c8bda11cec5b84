"""`flowplan import` against the real local store: live deployments, pools and queues into
prefect.yaml (plan/importing.py, plan/import_yaml.py, commands/import_.py), then plan finds no
changes and apply takes them over with the same ids."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.backends.local.store import default_home
from flowplan.domain.schedules import CronSchedule, IntervalSchedule, RRuleSchedule
from flowplan.domain.specs import DeploymentSpec, ScheduleSpec
from flowplan.plan.importing import import_deployments
from flowplan.plan.specs import OWNER_LABEL, PROJECT_LABEL
from flowplan.project.loader import load_file
from flowplan.steps.catalog import default_pull
from tests.conftest import Result

FLOWS = {
    "flows/etl.py": '''
        from flowplan import flow


        @flow(name="etl")
        def etl(day: str = "today", limit: int = 10):
            """Load the day's data."""


        @flow
        def report_daily(who: str = "ops"):
            pass


        @flow
        def loose(**options):
            pass
        ''',
}

COMMENTED = """\
# The team's deployments.
name: team
prefect-version: 3.9.1

definitions:
    tags: &common
        - nightly    # shared

deployments:
    # declared by hand
    - name: nightly
      entrypoint: flows/etl.py:etl
      tags: *common
      work_pool:
          name: pool
"""


@pytest.fixture
def store(project: Callable[..., Path]) -> Iterator[LocalBackend]:
    """The store the CLI uses (FLOWPLAN_HOME), in a project with two flows, and a pool."""
    project(FLOWS)
    backend = LocalBackend(default_home() / "flowplan.db")
    backend.create_work_pool("pool", "process")
    yield backend
    backend.close()


def by_hand(name: str, function: str = "etl", **fields: Any) -> DeploymentSpec:
    """A deployment as another tool made it: no ownership labels."""
    root = Path.cwd()
    values: dict[str, Any] = {"entrypoint": f"flows/etl.py:{function}", "path": str(root),
                              "work_pool_name": "pool", "pull_steps": default_pull(str(root)),
                              **fields}  # fmt: skip
    from flowplan.discovery.flows import discover

    (info,) = [f for f in discover(root)[0] if f.function == function]
    values.setdefault("description", info.description)
    values.setdefault("version", info.version)
    values.setdefault("parameter_openapi_schema", info.schema())
    return DeploymentSpec(info.name, name, labels={}, **values)


def ids(store: LocalBackend) -> dict[str, tuple[str, list[tuple[str, str, bool]]]]:
    return {d.full_name: (d.id, [(s.id, s.slug, s.active) for s in d.schedules])
            for d in store.read_deployments()}  # fmt: skip


def round_trip(cli: Callable[..., Result], store: LocalBackend, project: str) -> None:
    """plan finds no changes but takeovers; apply takes them over with the same ids and
    schedules; afterwards the project owns them and a plan has nothing left to do."""
    before = ids(store)
    planned = cli("plan", "--detailed-exitcode")
    assert planned.code == 0, planned.out + planned.err
    assert "No changes. The target matches the project." in planned.out
    applied = cli("apply", "--auto-approve")
    assert applied.code == 0, applied.err
    assert ids(store) == before
    for deployment in store.read_deployments():
        assert deployment.labels[OWNER_LABEL] == "flowplan"
        assert deployment.labels[PROJECT_LABEL] == project
    again = cli("plan", "--detailed-exitcode", "--prune")
    assert (again.code, again.out.splitlines()) == (
        0, ["No changes. The target matches the project.", "",
            "Plan: 0 to add, 0 to change, 0 to destroy."])  # fmt: skip


def test_deployments_made_without_a_file_are_imported_into_a_new_one(
    store: LocalBackend, cli: Callable[..., Result]
) -> None:
    made = cli("deploy", "flows/etl.py:etl", "-n", "nightly", "-p", "pool", "--cron",
               "0 2 * * *", "--param", "limit=100", "--tag", "on")  # fmt: skip
    assert made.code == 0, made.err
    made = cli("deploy", "flows/etl.py:report_daily", "-n", "daily", "-p", "pool",
               "--interval", "3600", "--description", "Daily report")  # fmt: skip
    assert made.code == 0, made.err
    result = cli("import")
    assert result.code == 0, result.err
    assert result.out == (
        "Imported 2 deployments and 1 work pool into prefect.yaml.\n"
        "Next: flowplan plan (no changes expected), then flowplan apply to take them over.\n"
    )
    assert (
        Path("prefect.yaml").read_text()
        == """\
name: proj
deployments:
- name: nightly
  entrypoint: flows/etl.py:etl
  tags:
  - "on"
  parameters:
    limit: 100
  work_pool:
    name: pool
  schedules:
  - cron: 0 2 * * *
- name: daily
  description: Daily report
  entrypoint: flows/etl.py:report_daily
  work_pool:
    name: pool
  schedules:
  - interval: 3600
work_pools:
- name: pool
  type: process
"""
    )
    planned = cli("plan", "--detailed-exitcode")
    assert planned.code == 0
    assert planned.out.splitlines() == [
        "No changes. The target matches the project.",
        "  = deployment 'etl/nightly': apply takes it over (writes its ownership labels;"
        " nothing else changes)",
        "  = deployment 'report-daily/daily': apply takes it over (writes its ownership labels;"
        " nothing else changes)",
        "",
        "Plan: 0 to add, 0 to change, 0 to destroy, 2 to take over.",
    ]
    round_trip(cli, store, "proj")


def test_an_existing_commented_file_keeps_its_comments_anchors_and_indentation(
    store: LocalBackend, cli: Callable[..., Result]
) -> None:
    Path("prefect.yaml").write_text(COMMENTED)
    assert cli("apply", "--auto-approve").code == 0  # `nightly` is the file's own
    store.upsert_deployments([
        by_hand("weekly", tags=("a",), schedules=(
            ScheduleSpec(CronSchedule("0 3 * * 1", "Europe/Berlin", day_or=False),
                         active=False, slug="mondays", parameters={"day": "monday"}),
            ScheduleSpec(RRuleSchedule("FREQ=WEEKLY;BYDAY=FR", None)),
            ScheduleSpec(IntervalSchedule(timedelta(minutes=90), datetime(2026, 1, 1, 8, 15),
                                          "Europe/Berlin"), slug="often"),
        )),
        by_hand("daily", "report_daily", parameters={"who": "team"}, paused=True,
                job_variables={"env": {"MODE": "yes"}}, concurrency_limit=2,
                concurrency_options={"collision_strategy": "CANCEL_NEW"}),
    ])  # fmt: skip
    result = cli("import")
    assert result.code == 0, result.err
    assert "etl/nightly: already declared in prefect.yaml; left as written" in result.err
    assert (
        Path("prefect.yaml").read_text()
        == COMMENTED
        + """\
    - name: weekly
      entrypoint: flows/etl.py:etl
      tags:
          - a
      work_pool:
          name: pool
      schedules:
          - cron: 0 3 * * 1
            timezone: Europe/Berlin
            day_or: false
            slug: mondays
            active: false
            parameters:
                day: monday
          - interval: 5400
            anchor_date: "2026-01-01T08:15:00"
            timezone: Europe/Berlin
            slug: often
          - rrule: FREQ=WEEKLY;BYDAY=FR
    - name: daily
      entrypoint: flows/etl.py:report_daily
      parameters:
          who: team
      paused: true
      concurrency_limit:
          limit: 2
          collision_strategy: CANCEL_NEW
      work_pool:
          name: pool
          job_variables:
              env:
                  MODE: "yes"
work_pools:
    - name: pool
      type: process
"""
    )
    round_trip(cli, store, "team")


def test_dry_run_prints_the_file_and_writes_nothing(
    store: LocalBackend, cli: Callable[..., Result]
) -> None:
    store.upsert_deployments([by_hand("nightly")])
    result = cli("import", "--dry-run")
    assert result.code == 0 and not Path("prefect.yaml").exists()
    assert result.out == "name: proj\ndeployments:\n- name: nightly\n  entrypoint: flows/etl.py:etl\n"\
        "  work_pool:\n    name: pool\nwork_pools:\n- name: pool\n  type: process\n"  # fmt: skip
    assert "Dry run: would import 1 deployment and 1 work pool into prefect.yaml; nothing" \
        " written." in result.err  # fmt: skip
    Path("prefect.yaml").write_text(COMMENTED)
    assert cli("import", "--dry-run").code == 0
    assert Path("prefect.yaml").read_text() == COMMENTED


def test_patterns_select_and_a_pattern_matching_nothing_is_an_error(
    store: LocalBackend, cli: Callable[..., Result]
) -> None:
    store.upsert_deployments([by_hand("nightly"), by_hand("hourly"),
                              by_hand("daily", "report_daily")])  # fmt: skip
    result = cli("import", "-n", "etl/*", "-n", "report_daily/nope", "--dry-run")
    assert result.code == 1 and not result.out
    assert result.err.splitlines()[-1] == (
        "Error: no deployment on the target matches: report_daily/nope (deployments:"
        " etl/hourly, etl/nightly, report-daily/daily)"
    )
    result = cli("import", "-n", "etl/n*", "-n", "report_daily/daily")  # function name works
    assert result.code == 0, result.err
    names = [d["name"] for d in load_file(Path("prefect.yaml")).data["deployments"]]
    assert names == ["nightly", "daily"]
    nothing = cli("import", "-n", "nightly")
    assert nothing.out == "Nothing to import: prefect.yaml is unchanged.\n"
    assert "etl/nightly: already declared in prefect.yaml; left as written" in nothing.err


def test_secrets_stay_references_and_values_become_references(
    store: LocalBackend, cli: Callable[..., Result]
) -> None:
    store.set_secret("api-token", "s3cr3t-value-123")
    reference = "Bearer {{ prefect.blocks.secret.api-token }}"
    store.upsert_deployments([
        by_hand("kept", job_variables={"env": {"AUTH": reference}}),
        by_hand("leaked", job_variables={"env": {"AUTH": "Bearer s3cr3t-value-123"}}),
    ])  # fmt: skip
    result = cli("import")
    assert result.code == 0, result.err
    text = Path("prefect.yaml").read_text()
    assert "s3cr3t" not in text + result.out + result.err
    assert text.count("AUTH: Bearer {{ prefect.blocks.secret.api-token }}") == 2
    assert result.err.count("warning: ") == 1
    assert ("warning: etl/leaked.work_pool.job_variables.env.AUTH: the target holds the value of"
            " secret 'api-token'; written as a reference to it (apply will store the"
            " reference)") in result.err  # fmt: skip
    planned = cli("plan", "--detailed-exitcode")
    assert planned.code == 2  # the stored value becomes the reference
    assert "~ deployment 'etl/leaked'" in planned.out
    assert "~ deployment 'etl/kept'" not in planned.out
    assert cli("apply", "--auto-approve").code == 0
    env = store.read_deployment("etl/leaked").job_variables["env"]
    assert env == {"AUTH": reference}


def test_an_entrypoint_that_is_gone_is_a_positioned_warning(
    store: LocalBackend, cli: Callable[..., Result]
) -> None:
    store.upsert_deployments([by_hand("nightly"),
                              by_hand("old", entrypoint="flows/gone.py:old")])  # fmt: skip
    store.upsert_deployments([by_hand("moved", entrypoint="flows/etl.py:missing")])
    result = cli("import")
    assert result.code == 0, result.err
    warnings = [line for line in result.err.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: prefect.yaml:6:15: deployments[0].entrypoint: flows/etl.py has no function"
        " 'missing' (flows in that file: etl, loose, report_daily)",
        "warning: prefect.yaml:16:15: deployments[2].entrypoint: entrypoint file 'flows/gone.py'"
        " does not exist (entrypoints are relative to the directory flowplan runs in,"
        f" {Path.cwd()})",
    ]
    lines = Path("prefect.yaml").read_text().splitlines()
    assert lines[5] == "  entrypoint: flows/etl.py:missing"
    assert lines[15] == "  entrypoint: flows/gone.py:old"
    # without the flow's source, its description and version are written as they are
    assert lines[2:5] == ["- name: moved", "  description: Load the day's data.",
                          f"  version: {store.read_deployment('etl/moved').version}"]  # fmt: skip


def test_yaml_1_1_traps_read_back_as_they_were(
    store: LocalBackend, cli: Callable[..., Result]
) -> None:
    tricky = {"day": "yes", "limit": "1:30", "on": "017", "n": "~", "x": "2024-01-01",
              "y": "null", "f": 1.5, "z": "", "list": ["no", "0x1f", True, None]}  # fmt: skip
    store.upsert_deployments([by_hand("tricky", "loose", parameters=tricky, tags=("off", "1e3"),
                                      version="1.0", description="on")])  # fmt: skip
    assert cli("import").code == 0
    (entry,) = load_file(Path("prefect.yaml")).data["deployments"]
    assert entry["parameters"] == tricky
    assert (entry["tags"], entry["version"], entry["description"]) == (["off", "1e3"], "1.0", "on")
    round_trip(cli, store, "proj")


def test_pools_and_queues_are_declared_with_what_differs_from_their_defaults(
    store: LocalBackend, cli: Callable[..., Result]
) -> None:
    template = store.read_work_pool("pool").base_job_template
    custom = json.loads(json.dumps(template))
    custom["variables"]["properties"]["stream_output"]["default"] = False
    store.create_work_pool("big", "process", description="the big one", concurrency_limit=4,
                           base_job_template=custom, is_paused=True)  # fmt: skip
    store.create_work_queue("big", "urgent", priority=1, concurrency_limit=2,
                            description="now")  # fmt: skip
    store.update_work_queue("big", "default", {"is_paused": True})
    store.upsert_deployments([by_hand("nightly", work_pool_name="big",
                                      work_queue_name="urgent")])  # fmt: skip
    assert cli("import").code == 0
    data = load_file(Path("prefect.yaml")).data
    assert data["deployments"][0]["work_pool"] == {"name": "big", "work_queue_name": "urgent"}
    assert data["work_pools"] == [{
        "name": "big", "type": "process", "description": "the big one", "paused": True,
        "concurrency_limit": 4, "base_job_template": "big.job-template.json",
        "queues": [{"name": "urgent", "priority": 1, "description": "now",
                    "concurrency_limit": 2},
                   {"name": "default", "priority": 2, "paused": True}],
    }]  # fmt: skip
    assert json.loads(Path("big.job-template.json").read_text()) == custom
    round_trip(cli, store, "proj")
    # a file of that name with other content is never overwritten
    Path("prefect.yaml").unlink()
    Path("big.job-template.json").write_text("{}")
    refused = cli("import")
    assert refused.code == 1 and not Path("prefect.yaml").exists()
    assert f"Error: {Path.cwd()}/big.job-template.json exists with other content" in refused.err
    assert Path("big.job-template.json").read_text() == "{}"


def test_what_a_file_cannot_say_is_a_warning(
    store: LocalBackend, cli: Callable[..., Result]
) -> None:
    store.upsert_deployments([by_hand("elsewhere", path="/srv/other-checkout")])
    result = cli("import")
    assert result.code == 0
    assert ("warning: deployment 'etl/elsewhere': plan will still show a change of path (a"
            " project file cannot say what the target holds there)") in result.err  # fmt: skip


def test_an_invalid_file_is_refused_and_left_alone(
    store: LocalBackend, cli: Callable[..., Result]
) -> None:
    broken = "deployments:\n  - name: x\n    entrypoint: flows/etl.py:etl\n    tags: a,b\n"
    Path("prefect.yaml").write_text(broken)
    store.upsert_deployments([by_hand("nightly")])
    result = cli("import")
    assert result.code == 1 and not result.out
    assert "Error: prefect.yaml has errors; nothing was imported: prefect.yaml:4:11:" in result.err
    assert Path("prefect.yaml").read_text() == broken


def test_the_python_api_returns_the_text_and_what_went_in(store: LocalBackend) -> None:
    store.upsert_deployments([by_hand("nightly"), by_hand("no-entry", entrypoint=None)])
    result = import_deployments(store, Path("prefect.yaml"))
    assert (result.imported, result.declared, result.pools, result.changed) == (
        ("etl/nightly",), (), ("pool",), True)  # fmt: skip
    assert result.warnings == ("deployment 'etl/no-entry' has no entrypoint on the target; not"
                               " imported (a project file needs one)",)  # fmt: skip
    assert result.text.startswith("name: proj\ndeployments:\n- name: nightly\n")
    assert not Path("prefect.yaml").exists()
    assert os.environ["FLOWPLAN_HOME"]  # the CLI and this store are the same


def test_into_the_file_init_writes_the_placeholder_is_replaced_and_comments_stay(
    store: LocalBackend, cli: Callable[..., Result]
) -> None:
    assert cli("init", "--recipe", "local").code == 0
    written = Path("prefect.yaml").read_text()
    store.upsert_deployments([by_hand("nightly"), by_hand("daily", "report_daily")])
    result = cli("import")
    assert result.code == 0, result.err
    text = Path("prefect.yaml").read_text()
    comments = [line for line in written.splitlines() if line.lstrip().startswith("#")]
    assert comments and all(line in text.splitlines() for line in comments)
    names = [d.get("name") for d in load_file(Path("prefect.yaml")).data["deployments"]]
    assert names == ["nightly", "daily"]  # the placeholder replaced by the first (by flow)
    round_trip(cli, store, "proj")


def test_the_file_is_replaced_whole_and_keeps_its_mode(
    store: LocalBackend, cli: Callable[..., Result]
) -> None:
    Path("prefect.yaml").write_text(COMMENTED)
    Path("prefect.yaml").chmod(0o640)
    store.upsert_deployments([by_hand("weekly")])
    assert cli("import").code == 0
    assert Path("prefect.yaml").stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in Path.cwd().iterdir() if p.name.startswith(".")) == []
    assert Path("prefect.yaml").read_text().startswith(COMMENTED)
