"""How a prefect.yaml is read, Prefect as the oracle: for each top-level, deployment and
work-pool key given each kind of value (null, text, numbers, booleans, lists, mappings), a file
Prefect's `prefect deploy` refuses (its `PrefectYamlModel`: Prefect then ignores the whole
file) is a validate error in flowplan. flowplan refuses more than Prefect's first reading does
(a missing entrypoint, a bare-string `tags` Prefect splits into characters, `paused: 1`, ...):
those cases are counted, each kind listed in STRICTER."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from flowplan.project.validate import validate_file
from tests.oracle.harness import ask_prefect

VALUES: list[Any] = [None, "", "text", 1, 1.5, True, [], ["a"], {}, {"a": 1}]
DEPLOYMENT_KEYS = ["name", "version", "version_type", "tags", "description", "schedule",
                   "schedules", "paused", "concurrency_limit", "flow_name", "entrypoint",
                   "parameters", "enforce_parameter_schema", "build", "push", "pull",
                   "work_pool", "triggers", "sla"]  # fmt: skip
WORK_POOL_KEYS = ["name", "work_queue_name", "job_variables"]
TOP_KEYS = ["name", "prefect-version", "build", "push", "pull", "deployments"]
SCHEDULE_KEYS = ["timezone", "day_or", "anchor_date", "active", "parameters", "slug"]
# (where, value) kinds flowplan refuses though Prefect's model reads them: each fails later in
# `prefect deploy` or on Prefect's server, or deploys something the file did not mean
STRICTER = {
    "name": "a deployment without a name (Prefect skips it) or with an empty one",
    "entrypoint": "no entrypoint, or one that names no file (prefect deploy fails)",
    "version_type": "not one of Prefect's version types (the server refuses it)",
    "tags": "a string (Prefect splits it into single characters)",
    "paused": "1 for true (flowplan asks for a boolean)",
    "enforce_parameter_schema": "1 for true (flowplan asks for a boolean)",
    "concurrency_limit": "true, or a mapping without limit (the server refuses it)",
    "parameters": "a parameter the flow does not take (the server refuses it)",
    "build": "a step mapping whose arguments are not a mapping (the step fails)",
    "push": "a step mapping whose arguments are not a mapping (the step fails)",
    "pull": "a step mapping whose arguments are not a mapping (the step fails)",
    "work_pool.name": "an empty pool name",
    "work_pool.work_queue_name": "an empty queue name",
    # Prefect's model keeps these as text (or reads 1 as true); flowplan checks the text now
    "schedules.timezone": "a time zone that does not exist",
    "schedules.day_or": "null, 1, or text other than true or false",
    "schedules.anchor_date": "text that is not an ISO-8601 date-time",
    "schedules.active": "1, or text other than true or false",
    "schedules.parameters": "a parameter the flow does not take (the server refuses it)",
}
BASE = {"name": "d", "entrypoint": "flows.py:f", "work_pool": {"name": "p"}}


def shapes() -> list[tuple[str, Any, dict[str, Any]]]:
    """(where, value, the file's content) for each key and value."""
    found = []
    for key, value in itertools.product(DEPLOYMENT_KEYS, VALUES):
        found.append((key, value, {"deployments": [{**BASE, key: value}]}))
    for key, value in itertools.product(WORK_POOL_KEYS, VALUES):
        pool = {"name": "p", key: value}
        found.append((f"work_pool.{key}", value, {"deployments": [{**BASE, "work_pool": pool}]}))
    for key, value in itertools.product(SCHEDULE_KEYS, VALUES):
        schedule = {"cron": "0 * * * *", key: value}
        found.append(
            (f"schedules.{key}", value, {"deployments": [{**BASE, "schedules": [schedule]}]})
        )
    for key, value in itertools.product(TOP_KEYS, VALUES):
        found.append((key, value, {"deployments": [BASE], key: value}))
    return found


def test_a_file_prefect_refuses_is_a_validate_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = shapes()
    texts = [yaml.safe_dump(content) for _, _, content in cases]
    answers = ask_prefect("prefect_yaml", [{"text": text} for text in texts])
    monkeypatch.chdir(tmp_path)  # entrypoints are relative to where validate runs
    (tmp_path / "flows.py").write_text("from prefect import flow\n\n@flow\ndef f(): pass\n")
    missed, stricter, unlisted = [], 0, []
    for (where, value, _), text, theirs in zip(cases, texts, answers, strict=True):
        path = tmp_path / "prefect.yaml"
        path.write_text(text)
        report = validate_file(path, "prefect.yaml")
        errors = [f.render() for f in report.findings if f.severity == "error"]
        if theirs["verdict"] == "refused" and not errors:
            missed.append(f"{where} = {value!r}: Prefect refuses the file, flowplan finds no error")
        elif theirs["verdict"] == "read" and errors:
            stricter += 1
            if where not in STRICTER:
                unlisted.append(f"{where} = {value!r}: {errors[0]}")
    assert not missed, "\n".join(missed)
    assert not unlisted, "\n".join(unlisted)
    assert len(cases) == 340 and stricter < len(cases) / 8
