"""Kubernetes pools, which cannot run here, checked offline: `validate` renders the Job of each
deployment on a pool the project declares with `type: kubernetes`; `plan` (and apply) also for
pools stored on the target, with the values a plan knows; `plan --render-jobs` prints them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from flowplan.backends.local import LocalBackend
from flowplan.domain import k8s_checks
from flowplan.project.init import initialize_project
from flowplan.project.validate import validate_file
from tests.conftest import Result

Cli = Callable[..., Result]
FLOW = "from prefect import flow\n\n@flow\ndef etl():\n    pass\n"
BROKEN = """
name: team
work_pools:
  - name: k8s
    type: kubernetes
    base_job_template: k8s-job-template.json
  - name: local
    type: process
deployments:
  - name: nightly
    entrypoint: flows/etl.py:etl
    work_pool:
      name: k8s
      job_variables:
        image: Registry.example.com/Team/ETL:1
        cpu_request: two
        env: FOO=bar
  - name: hourly
    entrypoint: flows/etl.py:etl
    work_pool:
      name: k8s
      job_variables:
        image: registry.example.com/team/etl:1
        env:
          GOOD: "1"
          BAD NAME=: "2"
  - name: elsewhere
    entrypoint: flows/etl.py:etl
    work_pool:
      name: local
      job_variables:
        env: FOO=bar
"""


@pytest.fixture
def k8s_project(project: Callable[..., Path]) -> Path:
    """A project with the kubernetes recipe's job template (CPU and memory requests)."""
    from flowplan.project.init import k8s_job_template

    return project({"flows/etl.py": FLOW, "prefect.yaml": BROKEN,
                    "k8s-job-template.json": json.dumps(k8s_job_template())})  # fmt: skip


def test_validate_reports_every_broken_job_variable_at_once_with_its_path(
    k8s_project: Path, cli: Cli
) -> None:
    result = cli("validate")
    assert result.code == 1
    assert result.out.splitlines() == [
        "error: prefect.yaml:14:16: deployments[0].work_pool.job_variables.image: deployment"
        " 'nightly': the Job's spec.template.spec.containers[0].image: image"
        " 'Registry.example.com/Team/ETL:1' is not a valid reference: repository names are"
        " lowercase",
        "error: prefect.yaml:15:22: deployments[0].work_pool.job_variables.cpu_request:"
        " deployment 'nightly': the Job's spec.template.spec.containers[0].resources.requests"
        ".cpu: 'two' is not a Kubernetes quantity (a number with an optional suffix: 500m, 2,"
        " 1.5, 512Mi, 2Gi, 1e3)",
        "error: prefect.yaml:16:14: deployments[0].work_pool.job_variables.env: deployment"
        " 'nightly': expected a mapping, got text ('FOO=bar') (the work pool's variables)",
        "error: prefect.yaml:25:22: deployments[1].work_pool.job_variables.env.BAD NAME=:"
        " deployment 'hourly': the Job's spec.template.spec.containers[0].env[1].name:"
        " environment variable name 'BAD NAME=' is not valid (printable ASCII characters other"
        " than '=')",
        "4 errors, 0 warnings in 1 file.",
    ]  # the process pool's deployment is not a Kubernetes one: nothing about it


def test_json_output_gives_codes_and_paths(k8s_project: Path, cli: Cli) -> None:
    found = json.loads(cli("validate", "-o", "json").out)["files"][0]["findings"]
    assert [(f["code"], f["path"]) for f in found] == [
        ("k8s-image", "deployments[0].work_pool.job_variables.image"),
        ("k8s-quantity", "deployments[0].work_pool.job_variables.cpu_request"),
        ("k8s-job-variables", "deployments[0].work_pool.job_variables.env"),
        ("k8s-env-name", "deployments[1].work_pool.job_variables.env.BAD NAME="),
    ]


def test_plan_refuses_with_every_error_and_writes_nothing(k8s_project: Path, cli: Cli) -> None:
    """Values only a plan knows (an environment variable here) are checked by plan."""
    (k8s_project / "prefect.yaml").write_text(
        BROKEN.lstrip("\n").replace("Registry.example.com/Team/ETL:1", "'{{ $IMAGE }}'")
        .replace("cpu_request: two", "cpu_request: '{{ $CPU }}'")
        .replace("env: FOO=bar\n  - name: hourly", "env: {}\n  - name: hourly")
        .replace("BAD NAME=", "OK")
    )  # fmt: skip
    assert cli("validate").code == 0
    env = {"IMAGE": "etl:bad:tag", "CPU": "1.5 cores"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        planned = cli("plan")
        applied = cli("apply", "--auto-approve")
    assert planned.code == 1
    assert planned.err.splitlines()[-3:] == [
        "Error: 2 errors in the Kubernetes Jobs; nothing was planned:",
        "  prefect.yaml:14:16: deployments[0].work_pool.job_variables.image: deployment"
        " 'nightly': the Job's spec.template.spec.containers[0].image: image 'etl:bad:tag' is"
        " not a valid image reference ([registry[:port]/]name[:tag][@sha256:digest])",
        "  prefect.yaml:15:22: deployments[0].work_pool.job_variables.cpu_request: deployment"
        " 'nightly': the Job's spec.template.spec.containers[0].resources.requests.cpu: '1.5"
        " cores' is not a Kubernetes quantity (a number with an optional suffix: 500m, 2, 1.5,"
        " 512Mi, 2Gi, 1e3)",
    ]
    assert applied.code == 1
    store = LocalBackend(Path.cwd().parent / ".flowplan-home" / "flowplan.db")
    try:
        assert store.read_deployments() == [] and store.read_work_pools() == []
    finally:
        store.close()


def test_a_pool_stored_on_the_target_is_known_as_kubernetes(
    project: Callable[..., Path], cli: Cli
) -> None:
    """No `work_pools:` in the file: validate cannot know the pool's type, plan reads it."""
    project({"flows/etl.py": FLOW, "prefect.yaml": """
        deployments:
          - name: nightly
            entrypoint: flows/etl.py:etl
            work_pool:
              name: cluster
              job_variables: {namespace: Data, image: etl}
    """})  # fmt: skip
    assert cli("validate").code == 0
    assert cli("work-pool", "create", "cluster", "--type", "kubernetes").code == 0
    planned = cli("plan")
    assert planned.code == 1
    assert planned.err.splitlines()[-1] == (
        "  prefect.yaml:6:34: deployments[0].work_pool.job_variables.namespace: deployment"
        " 'nightly': the Job's metadata.namespace: namespace 'Data' is not a valid DNS label"
        " (lowercase letters, digits and '-'; starting and ending with a letter or digit)"
    )
    rendered = cli("plan", "--render-jobs")
    assert rendered.code == 1
    [document] = list(yaml.safe_load_all(rendered.out))
    assert document["metadata"]["namespace"] == "Data"
    assert rendered.out.startswith("# deployment etl/nightly on work pool cluster\n")
    assert rendered.err.splitlines()[-1] == "1 error in the Kubernetes Jobs."


def test_render_jobs_prints_each_job_as_yaml_and_json(
    project: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kubernetes_validate

    project({"flows/etl.py": FLOW, "prefect.yaml": """
        work_pools:
          - {name: k8s, type: kubernetes}
          - {name: local, type: process}
        deployments:
          - name: a
            entrypoint: flows/etl.py:etl
            work_pool:
              name: k8s
              job_variables:
                image: "registry.example.com/etl:{{ $TAG }}"
                env: {MODE: fast}
                labels: {team: data eng}
          - name: b
            entrypoint: flows/etl.py:etl
            work_pool: {name: k8s, job_variables: {finished_job_ttl: 60}}
          - name: c
            entrypoint: flows/etl.py:etl
            work_pool: {name: local}
    """})  # fmt: skip
    monkeypatch.setenv("TAG", "1.2")
    result = cli("plan", "--render-jobs")
    assert result.code == 0, result.err
    documents = list(yaml.safe_load_all(result.out))
    assert [d["spec"]["template"]["spec"]["containers"][0]["image"] for d in documents] == [
        "registry.example.com/etl:1.2", "prefecthq/prefect:3-latest",
    ]  # fmt: skip
    first = documents[0]
    assert first["metadata"]["labels"]["team"] == "data-eng"
    assert first["spec"]["template"]["spec"]["containers"][0]["env"][0] == {
        "name": "MODE", "value": "fast"}  # fmt: skip
    assert documents[1]["spec"]["ttlSecondsAfterFinished"] == 60
    as_json = json.loads(cli("plan", "--render-jobs", "-o", "json").out)
    assert [(j["deployment"], j["work_pool"], j["findings"]) for j in as_json] == [
        ("etl/a", "k8s", []), ("etl/b", "k8s", []),
    ]  # fmt: skip
    assert [j["manifest"] for j in as_json] == documents
    for document in documents:  # the package's own API agrees, once the default template's
        pod = document["spec"]["template"]["spec"]  # pod-level fields the API drops are gone
        del pod["parallelism"], pod["completions"]
        kubernetes_validate.validate(document, "1.30", strict=True)
    only_b = cli("plan", "--render-jobs", "-n", "b")
    assert len(list(yaml.safe_load_all(only_b.out))) == 1
    none = cli("plan", "--render-jobs", "-n", "c")
    assert (none.code, none.out) == (0, "")
    assert "No selected deployment runs on a kubernetes work pool." in none.err
    refused = cli("plan", "--render-jobs", "--out", "plan.json")
    assert refused.code == 1  # flowplan's usage errors (as for --all with -n)
    assert "--render-jobs prints Jobs, not a plan" in refused.err


def test_the_kubernetes_recipe_renders_a_job_that_passes(
    project: Callable[..., Path], cli: Cli
) -> None:
    root = project({"flows/etl.py": FLOW})
    initialize_project(
        recipe="kubernetes",
        directory=root,
        inputs={"image_name": "registry.example.com/team/etl", "tag": "1.2"},
    )
    data: dict[str, Any] = yaml.safe_load((root / "prefect.yaml").read_text())
    data["deployments"][0].update(name="etl", entrypoint="flows/etl.py:etl")
    (root / "prefect.yaml").write_text(yaml.safe_dump(data))
    assert cli("validate").code == 0
    rendered = cli("plan", "--render-jobs")
    assert rendered.code == 0, rendered.err
    [job] = list(yaml.safe_load_all(rendered.out))
    main = job["spec"]["template"]["spec"]["containers"][0]
    assert main["image"] == "registry.example.com/team/etl:1.2"  # the build step's, predicted
    assert main["resources"] == {"requests": {"cpu": "500m", "memory": "512Mi"}}
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "default"
    # a broken value in the recipe's job variables is caught
    data["deployments"][0]["work_pool"]["job_variables"]["memory_request"] = "512 MB"
    (root / "prefect.yaml").write_text(yaml.safe_dump(data))
    result = cli("validate")
    assert result.code == 1
    assert "job_variables.memory_request: deployment 'etl': the Job's" in result.out


def test_a_project_without_kubernetes_pools_loads_no_schema(project: Callable[..., Path]) -> None:
    """The schemas (1.5 MB of JSON) are read only when a kubernetes pool needs them."""
    root = project({"flows/etl.py": FLOW, "prefect.yaml": BROKEN.replace("kubernetes", "docker")
                    .replace("base_job_template: k8s-job-template.json", "")})  # fmt: skip
    k8s_checks._job_validator.cache_clear()
    report = validate_file(root / "prefect.yaml", "prefect.yaml")
    assert k8s_checks._job_validator.cache_info().currsize == 0
    assert not [f for f in report.findings if f.code.startswith("k8s-")]
    assert report.valid, [f.render() for f in report.findings]
    (root / "prefect.yaml").write_text(BROKEN.replace(
        "base_job_template: k8s-job-template.json", ""))  # fmt: skip
    validate_file(root / "prefect.yaml", "prefect.yaml")
    assert k8s_checks._job_validator.cache_info().currsize == 1


def test_without_kubernetes_validate_the_other_checks_still_run(
    k8s_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> Path:
        raise k8s_checks.SchemasMissing("the Kubernetes schemas need the kubernetes-validate"
                                        " package")  # fmt: skip

    monkeypatch.setattr(k8s_checks, "_schema_root", missing)
    k8s_checks._job_validator.cache_clear()
    k8s_checks.schema_version.cache_clear()
    try:
        report = validate_file(k8s_project / "prefect.yaml", "prefect.yaml")
    finally:
        k8s_checks._job_validator.cache_clear()
        k8s_checks.schema_version.cache_clear()
    codes = [(f.code, f.severity) for f in report.findings]
    assert ("k8s-schemas", "warning") in codes
    assert ("k8s-quantity", "error") in codes
    [warning] = [f for f in report.findings if f.code == "k8s-schemas"]
    assert warning.render() == (
        "prefect.yaml:5:24: work_pools[0].base_job_template: work pool 'k8s': the Kubernetes"
        " schemas need the kubernetes-validate package: the Job was not checked against the"
        " Kubernetes schemas (pip install 'flowplan[kubernetes]')"
    )
