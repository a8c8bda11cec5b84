"""From a project file to a plan (plan/pipeline.py), build steps at plan and apply time
(plan/builds.py), the Python API's way in (plan/sync.py) and plan-file JSON of deployments
(plan/specs.py), against the real store."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.domain.schedules import IntervalSchedule
from flowplan.domain.specs import HASH_LABEL, DeploymentSpec, ScheduleSpec
from flowplan.errors import FlowplanError, InvalidInput, UsageError
from flowplan.plan.apply import apply_plan
from flowplan.plan.builds import Builder, predicted
from flowplan.plan.desired import Overrides
from flowplan.plan.pipeline import Request, file_hash, make_plan
from flowplan.plan.specs import OWNER_LABEL, deployment_from_json, deployment_to_json
from flowplan.plan.sync import Synced, sync_deployments
from flowplan.project.validate import FileReport, validate_file
from flowplan.steps.predict import KNOWN_AFTER_BUILD

FLOW = "from prefect import flow\n\n@flow\ndef hello(who: str = 'x', team: str = 'y'):\n    pass\n"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    project = tmp_path / "project"
    (project / "flows").mkdir(parents=True)
    (project / "flows" / "hello.py").write_text(FLOW)
    monkeypatch.chdir(project)
    return project


def report(root: Path, deployments: str, head: str = "") -> FileReport:
    (root / "prefect.yaml").write_text(f"name: proj\n{head}deployments:\n{deployments}")
    found = validate_file(root / "prefect.yaml")
    assert not [f for f in found.findings if f.severity == "error"], found.findings
    return found


def deployment(name: str, extra: str = "") -> str:
    return (f"  - name: {name}\n    entrypoint: flows/hello.py:hello\n"
            f"    work_pool: {{name: pool}}\n{extra}")  # fmt: skip


# -- make_plan ----------------------------------------------------------------------------------


def test_a_plan_names_its_target_and_the_hash_of_the_file(root: Path, store: LocalBackend) -> None:
    found = report(root, deployment("a") + deployment("b"))
    plan = make_plan(found, Request(), store, env={})
    assert [(c.action, c.key) for c in plan.changes] == [
        ("create", "hello/a"),
        ("create", "hello/b"),
    ]
    assert plan.target == store.target
    assert plan.project_hash == hashlib.sha256((root / "prefect.yaml").read_bytes()).hexdigest()
    assert file_hash(root / "missing.yaml") == ""


def test_names_choose_deployments_and_unknown_names_are_refused(
    root: Path, store: LocalBackend
) -> None:
    found = report(root, deployment("a") + deployment("b"))
    plan = make_plan(found, Request(names=("b",)), store, env={})
    assert [c.key for c in plan.changes] == ["hello/b"]
    with pytest.raises(InvalidInput) as caught:
        make_plan(found, Request(names=("x", "b", "y")), store, env={})
    assert caught.value.message == (
        f"no deployment in {found.file} matches: x, y (deployments: a, b)"
    )
    with pytest.raises(UsageError):
        make_plan(found, Request(names=("a",), everything=True), store, env={})
    empty = report(root, "  []\n")
    with pytest.raises(InvalidInput) as caught:
        make_plan(empty, Request(names=("x",)), store, env={})
    assert caught.value.message.endswith("matches: x (deployments: none)")


def test_prune_needs_the_whole_project(root: Path, store: LocalBackend) -> None:
    found = report(root, deployment("a"))
    with pytest.raises(UsageError) as caught:
        make_plan(found, Request(names=("a",), prune=True), store, env={})
    assert (caught.value.message, caught.value.hint) == (
        "--prune needs the whole project: it cannot be combined with -n/--name",
        "run 'flowplan plan --prune' without -n",
    )


def test_prune_and_its_limit_reach_the_plan(root: Path, store: LocalBackend) -> None:
    made = report(root, deployment("a") + deployment("b") + deployment("c"))
    apply_plan(make_plan(made, Request(), store, env={}), store)
    fewer = report(root, deployment("a") + deployment("b"))
    assert [c.action for c in make_plan(fewer, Request(), store, env={}).changes] == [
        "noop", "noop"]  # fmt: skip
    pruned = make_plan(fewer, Request(prune=True), store, env={})
    assert [(c.action, c.key) for c in pruned.changes][-1] == ("delete", "hello/c")
    only_a = report(root, deployment("a"))
    with pytest.raises(InvalidInput, match="more than --max-delete 1"):
        make_plan(only_a, Request(prune=True, max_delete=1), store, env={})


def test_variables_come_from_the_target_and_the_environment_from_the_process(
    root: Path, store: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.set_variable("team", "data")
    monkeypatch.setenv("WHO", "process")
    found = report(root, deployment("a", "    parameters: {who: '{{ $WHO }}',"
                                         " team: '{{ prefect.variables.team }}'}\n"))  # fmt: skip
    [change] = make_plan(found, Request(), store).changes
    assert change.after is not None
    assert change.after["parameters"] == {"who": "process", "team": "data"}
    [change] = make_plan(found, Request(), store, env={"WHO": "given"}).changes
    assert change.after is not None and change.after["parameters"]["who"] == "given"


def test_overrides_reach_the_desired_state(root: Path, store: LocalBackend) -> None:
    found = report(root, deployment("a"))
    request = Request(names=("a",), overrides=Overrides(description="from the command line"))
    [change] = make_plan(found, request, store, env={}).changes
    assert change.after is not None and change.after["description"] == "from the command line"


BUILD = (
    "    build:\n"
    "      - prefect_docker.deployments.steps.build_docker_image:\n"
    "          id: image\n"
    "          image_name: '{{ prefect.variables.registry }}/app'\n"
    "          tag: '{{ prefect.blocks.secret.tag }}'\n"
    "    job_variables: {}\n"
)


def test_a_plan_predicts_build_outputs_without_reading_secrets(
    root: Path, store: LocalBackend
) -> None:
    store.set_variable("registry", "reg.io")
    found = report(root, deployment("a", BUILD.replace("    job_variables: {}\n", "")).replace(
        "work_pool: {name: pool}", "work_pool: {name: pool, job_variables: {image: "
        "'{{ image.image }}', name: '{{ image.image_name }}', id: '{{ image.image_id }}'}}"))  # fmt: skip
    [change] = make_plan(found, Request(), store, env={}).changes
    assert change.after is not None
    assert change.after["job_variables"] == {
        "image": "reg.io/app:{{ secret tag }}", "name": "reg.io/app", "id": KNOWN_AFTER_BUILD,
    }  # fmt: skip
    outputs = predicted(lambda name: {"registry": "r"}.get(name))
    assert found.project is not None
    assert outputs(found.project.deployments[0])["image"]["image_name"] == "r/app"
    given = make_plan(found, Request(), store, env={},
                      outputs=lambda config: {"image": {"image": "x:1", "image_name": "x",
                                                        "image_id": "sha"}})  # fmt: skip
    assert given.changes[0].after is not None
    assert given.changes[0].after["job_variables"] == {"image": "x:1", "name": "x", "id": "sha"}


# -- Builder ------------------------------------------------------------------------------------


SHELL = "prefect.deployments.steps.run_shell_script"


def steps(script: str) -> str:
    return f"    build:\n      - {SHELL}: {{id: s, script: '{script}'}}\n"


def test_a_builder_runs_each_distinct_configuration_once_in_the_project_root(
    root: Path, store: LocalBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.set_variable("greeting", "hi")
    store.set_secret("word", "s3cret")
    monkeypatch.setenv("WHO", "you")
    script = "echo {{ prefect.variables.greeting }} {{ $WHO }} {{ prefect.blocks.secret.word }}"
    found = report(root, deployment("a", steps(script)) + deployment("b", steps(script))
                   + deployment("c", f"    build:\n      - {SHELL}: {{script: pwd, stream_output: true}}\n")
                   + deployment("d")
                   + deployment("e", f"    build:\n      - {SHELL}: {{stream_output: true, script: pwd}}\n"))  # fmt: skip
    assert found.project is not None
    monkeypatch.chdir(tmp_path)  # the builder changes into the root by itself
    echoed: list[str] = []
    builder = Builder(found.project, store, echo=echoed.append)
    a, b, c, d, e = found.project.deployments
    first = builder(a)
    assert first["s"]["stdout"] == "hi you s3cret"
    assert builder(b) == first
    assert builder(c)["stdout"] == str(root)
    assert builder(e) == builder(c)  # the same steps, written in another order
    assert builder(d) == {}
    assert builder.runs == 2
    assert Path.cwd() == tmp_path
    assert echoed.count(" > Running run_shell_script step...") == 2
    assert all("s3cret" not in line for line in echoed)


# -- sync_deployments ---------------------------------------------------------------------------


def spec(name: str, **fields: Any) -> DeploymentSpec:
    return DeploymentSpec("etl", name, entrypoint="f.py:etl", work_pool_name="pool", **fields)


def test_sync_tells_what_it_did_in_the_callers_order(store: LocalBackend) -> None:
    first = sync_deployments(store, [spec("b"), spec("a")])
    assert [(s.deployment.name, s.action) for s in first] == [("b", "create"), ("a", "create")]
    assert first[0].deployment == store.read_deployment("etl/b")
    assert first[0].deployment.labels[OWNER_LABEL] == "flowplan"
    assert HASH_LABEL in first[0].deployment.labels
    again = sync_deployments(store, [spec("a", description="new"), spec("b")])
    assert again == [Synced(store.read_deployment("etl/a"), "update"),
                     Synced(store.read_deployment("etl/b"), "noop")]  # fmt: skip
    assert again[0].deployment.description == "new"


def test_sync_keeps_an_ownership_label_the_caller_gives(store: LocalBackend) -> None:
    [synced] = sync_deployments(store, [spec("a", labels={OWNER_LABEL: "someone"})])
    assert synced.deployment.labels[OWNER_LABEL] == "someone"


class Refusing(LocalBackend):
    """The store, refusing to write the deployments named in `refused`."""

    refused: frozenset[str] = frozenset()

    def upsert_deployments(self, specs: Any, new: bool = False) -> Any:
        bad = [s.name for s in specs if s.name in self.refused]
        if bad:
            raise FlowplanError(f"refused {bad[0]}")
        return super().upsert_deployments(specs, new=new)


def test_sync_names_every_deployment_the_target_refused(tmp_path: Path) -> None:
    backend = Refusing(tmp_path / "flowplan.db")
    backend.create_work_pool("pool", "process")
    backend.refused = frozenset({"a", "c"})
    with pytest.raises(FlowplanError) as caught:
        sync_deployments(backend, [spec("a"), spec("b"), spec("c")])
    assert caught.value.message == "deploying failed for etl/a: refused a; etl/c: refused c"
    assert [d.name for d in backend.read_deployments()] == ["b"]


# -- plan-file JSON of a deployment ---------------------------------------------------------------


def test_a_deployment_round_trips_through_plan_json() -> None:
    declared = spec("a", tags=("x", "y"), schedules=(
        ScheduleSpec(IntervalSchedule(60), True, {"n": 1}, "one"),
        ScheduleSpec(IntervalSchedule(120), None, {}, "two", "old"),
    ))  # fmt: skip
    data = deployment_to_json(declared)
    assert data["tags"] == ["x", "y"]
    assert data["schedules"] == [
        {"schedule": IntervalSchedule(60).to_json(), "active": True, "parameters": {"n": 1},
         "slug": "one"},
        {"schedule": IntervalSchedule(120).to_json(), "active": None, "parameters": {},
         "slug": "two", "replaces": "old"},
    ]  # fmt: skip
    assert deployment_from_json(data) == declared
    unscheduled = spec("b")
    assert deployment_to_json(unscheduled)["schedules"] is None
    assert deployment_from_json(deployment_to_json(unscheduled)) == unscheduled
