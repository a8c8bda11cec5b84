"""What flow code reads through `flowplan.runtime.flow_run` and `flowplan.runtime.deployment`,
and what pull steps read as `{{ ctx.* }}`: the current run's fields, or nothing outside a run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flowplan.runtime import context, deployment, flow_run

WHEN = datetime(2026, 6, 1, 12, 30, tzinfo=UTC)
RUN = context.RunContext(
    flow_run_id="run-1", flow_run_name="brisk-newt", flow_name="etl",
    parameters={"n": 1}, scheduled_start_time=WHEN, tags=("a", "b"),
    deployment_id="dep-1", deployment_name="nightly", deployment_version="v2",
    deployment_parameters={"n": 0},
)  # fmt: skip


def test_outside_a_run_fields_are_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(context, "current", None)
    assert (flow_run.id, flow_run.name, flow_run.flow_name, flow_run.scheduled_start_time) == (
        None, None, None, None)  # fmt: skip
    assert (flow_run.parameters, flow_run.tags) == ({}, ())
    assert (deployment.id, deployment.name, deployment.version, deployment.parameters) == (
        None, None, None, {})  # fmt: skip
    assert deployment.flow_run_id is None


def test_inside_a_run_fields_are_the_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(context, "current", RUN)
    assert (flow_run.id, flow_run.name, flow_run.flow_name) == ("run-1", "brisk-newt", "etl")
    assert (flow_run.parameters, flow_run.tags, flow_run.scheduled_start_time) == (
        {"n": 1}, ("a", "b"), WHEN)  # fmt: skip
    assert (deployment.id, deployment.name, deployment.version, deployment.parameters) == (
        "dep-1", "nightly", "v2", {"n": 0})  # fmt: skip
    assert deployment.flow_run_id == "run-1"


def test_an_unknown_field_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match=r"^flowplan.runtime.flow_run has no attribute 'idd'$"):
        flow_run.idd  # noqa: B018
    with pytest.raises(AttributeError, match=r"^flowplan.runtime.deployment has no attribute 'x'$"):
        deployment.x  # noqa: B018


def test_pull_steps_read_the_run_and_its_deployment() -> None:
    assert RUN.template_values() == {"ctx": {
        "flow_run": {"id": "run-1", "name": "brisk-newt", "parameters": {"n": 1},
                     "tags": ["a", "b"], "scheduled_start_time": "2026-06-01T12:30:00+00:00"},
        "flow": {"name": "etl"},
        "deployment": {"id": "dep-1", "name": "nightly", "version": "v2", "parameters": {"n": 0}},
    }}  # fmt: skip


def test_the_runtime_package_gives_its_two_modules_by_name_only() -> None:
    import flowplan.runtime

    assert flowplan.runtime.__getattr__("flow_run") is flow_run
    assert flowplan.runtime.__getattr__("deployment") is deployment
    with pytest.raises(AttributeError, match=r"^module 'flowplan.runtime' has no attribute 'x'$"):
        flowplan.runtime.__getattr__("x")
