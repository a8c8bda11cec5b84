"""The Kubernetes Job of a deployment, rendered offline as Prefect's kubernetes worker would
submit it, and the checks on it (strict schemas from kubernetes-validate, the API's own rules)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from flowplan.domain.job_templates import default_template
from flowplan.domain.k8s_checks import JobSource, check_source, schema_issues
from flowplan.domain.k8s_job import CONTAINER, label_key, label_value, render_job
from flowplan.domain.k8s_rules import image_problem, quantity_value, semantic_issues
from flowplan.project.init import k8s_job_template

JV = ("deployments", 0, "work_pool", "job_variables")


def source(job_variables: dict[str, Any], template: dict[str, Any] | None = None) -> JobSource:
    template = template or k8s_job_template()
    return JobSource(
        deployment="etl", pool="k8s", template=template, job_variables=job_variables,
        labels={"prefect.io/deployment-name": "etl"}, variables_path=JV,
        pool_path=("work_pools", 0, "base_job_template"),
        default_template=template == default_template("kubernetes"),
    )  # fmt: skip


def container(manifest: dict[str, Any]) -> dict[str, Any]:
    found: Any = manifest
    for part in CONTAINER:
        found = found[part]
    return dict(found)


def test_the_default_template_renders_what_prefects_worker_submits() -> None:
    job = render_job(default_template("kubernetes"), {"image": "reg.example.com/etl:1",
                     "env": {"A": "1", "B": None}, "command": "python -m 'my flow'",
                     "labels": {"team": "Data Eng!"}, "name": "Nightly ETL run"},
                     {"prefect.io/deployment-name": "etl"})  # fmt: skip
    manifest = job.manifest
    assert manifest["metadata"]["namespace"] == "default"
    # kept as rendered, as Prefect's worker keeps it (and the API server refuses it)
    assert manifest["metadata"]["generateName"] == "Nightly ETL run-"
    assert [(i.path, i.code) for i in semantic_issues(manifest)] == [
        (("metadata", "generateName"), "k8s-name")
    ]
    assert job.origin(("metadata", "generateName")) == ("name",)
    # labels slugified on the Job and copied to its pod
    assert manifest["metadata"]["labels"] == {"prefect.io/deployment-name": "etl",
                                              "team": "Data-Eng"}  # fmt: skip
    assert manifest["spec"]["template"]["metadata"]["labels"] == manifest["metadata"]["labels"]
    main = container(manifest)
    assert main["image"] == "reg.example.com/etl:1"
    assert main["args"] == ["python", "-m", "my flow"]  # split like a shell
    # env as Kubernetes wants it, and the eviction setting backoffLimit 0 asks for
    assert main["env"] == [
        {"name": "A", "value": "1"}, {"name": "B", "value": None},
        {"name": "PREFECT_FLOW_RUN_EXECUTE_SIGTERM_BEHAVIOR", "value": "reschedule"},
    ]  # fmt: skip
    assert job.origin((*CONTAINER, "env", 1, "name")) == ("env", "B")
    assert job.origin((*CONTAINER, "image")) == ("image",)
    assert job.origin((*CONTAINER, "env", 2, "name")) is None  # the worker's own


def test_without_variables_the_worker_fills_image_command_and_name() -> None:
    job = render_job(default_template("kubernetes"), {"backoff_limit": 3})
    main = container(job.manifest)
    assert main["image"] == "prefecthq/prefect:3-latest"
    assert main["args"] == ["prefect", "flow-run", "execute"]
    assert job.manifest["metadata"]["generateName"] == "prefect-job-"
    assert main["env"][-1]["value"] == "relinquish"  # Kubernetes retries: the run is let go


def test_the_recipe_job_passes_the_strict_schemas_and_the_api_rules() -> None:
    """And kubernetes-validate's own API agrees (its CLI stops at the first error)."""
    import kubernetes_validate

    job = render_job(k8s_job_template(), {"image": "registry.example.com/team/etl:1.2",
                                          "namespace": "data", "cpu_request": "250m"})  # fmt: skip
    assert schema_issues(job.manifest) == []
    assert semantic_issues(job.manifest) == []
    kubernetes_validate.validate(job.manifest, "1.30", strict=True)
    assert container(job.manifest)["resources"] == {"requests": {"cpu": "250m",
                                                                 "memory": "512Mi"}}  # fmt: skip


def test_broken_job_variables_are_all_reported_at_their_paths() -> None:
    _, findings = check_source(source({
        "cpu_request": "two", "memory_request": "-1Gi", "image": "Registry.Example.com/Team/ETL:1",
        "env": {"GOOD": "1", "BAD=NAME": "x", "": "y"}, "namespace": "Data_Team",
        "service_account_name": "Robot!", "backoff_limit": "six",
    }))  # fmt: skip
    got = {(f.path[len(JV) :], f.code, f.severity) for f in findings}
    assert got == {
        (("cpu_request",), "k8s-quantity", "error"),
        (("memory_request",), "k8s-quantity", "error"),
        (("image",), "k8s-image", "error"),
        (("env", "BAD=NAME"), "k8s-env-name", "error"),
        (("env", ""), "k8s-env-name", "error"),
        (("namespace",), "k8s-name", "error"),
        (("service_account_name",), "k8s-name", "error"),
        (("backoff_limit",), "k8s-job-variables", "error"),  # the pool's own schema says so
    }
    messages = {f.path[-1]: f.message for f in findings}
    assert messages["cpu_request"] == (
        "deployment 'etl': the Job's spec.template.spec.containers[0].resources.requests.cpu:"
        " 'two' is not a Kubernetes quantity (a number with an optional suffix: 500m, 2, 1.5,"
        " 512Mi, 2Gi, 1e3)"
    )
    assert "repository names are lowercase" in messages["image"]


def test_a_dotted_env_key_is_reported_as_written() -> None:
    _, findings = check_source(source({"env.BAD=NAME": "1"}))
    assert [(f.path, f.code) for f in findings] == [((*JV, "env.BAD=NAME"), "k8s-env-name")]


def test_a_command_that_cannot_be_split_is_one_problem() -> None:
    _, findings = check_source(source({"command": "python -c 'unclosed"}))
    assert [(f.path, f.code, f.message) for f in findings] == [(
        (*JV, "command"), "k8s-render",
        "deployment 'etl': command cannot be split into arguments: No closing quotation",
    )]  # fmt: skip


def test_env_given_as_text_is_refused_at_env() -> None:
    _, findings = check_source(source({"env": "FOO=bar"}))
    assert [(f.path, f.code, f.message) for f in findings] == [(
        (*JV, "env"), "k8s-job-variables",
        "deployment 'etl': expected a mapping, got text ('FOO=bar') (the work pool's variables)",
    )]  # fmt: skip


def test_a_template_without_a_variables_schema_still_refuses_env_as_text() -> None:
    template = k8s_job_template()
    del template["variables"]["properties"]["env"]
    _, findings = check_source(source({"env": "FOO=bar"}, template))
    assert [(f.path, f.code) for f in findings] == [((*JV, "env"), "k8s-render")]


def test_the_schema_finds_every_error_not_the_first() -> None:
    template = k8s_job_template()
    pod = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
    pod["activeDeadlineSeconds"] = "{{ deadline }}"
    pod["containers"][0]["ports"] = "{{ ports }}"
    template["variables"]["properties"].update({"deadline": {}, "ports": {}})
    _, findings = check_source(source({"deadline": "soon", "ports": [{"port": 80}]}, template))
    assert sorted((f.path[len(JV) :], f.code) for f in findings) == [
        (("deadline",), "k8s-schema"),
        (("ports", 0), "k8s-schema"),  # containerPort is required
        (("ports", 0, "port"), "k8s-unknown-field"),
    ]


def test_quantities_and_ports_of_the_wrong_type_say_what_they_take() -> None:
    manifest = render_job(k8s_job_template(), {"image": "etl"}).manifest
    main = manifest["spec"]["template"]["spec"]["containers"][0]
    main["resources"]["limits"] = {"cpu": None, "memory": [1]}
    main["ports"] = [{"containerPort": "80"}]
    assert [(i.path[-1], i.message) for i in schema_issues(manifest)] == [
        ("cpu", "expected text or a number, got null"),
        ("memory", "expected text or a number, got a list"),
        ("containerPort", "expected an integer, got text ('80')"),
    ]


def test_placeholders_are_checked_later_not_now() -> None:
    _, findings = check_source(
        source(
            {
                "image": "{{ build-image.image }}",
                "cpu_request": "{{ $CPU }}",
                "backoff_limit": "{{ x }}",
            }
        )
    )
    assert findings == []


def test_problems_of_the_pools_own_template_are_reported_once_at_the_pool() -> None:
    template = k8s_job_template()
    template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]["restartPolicy"] = (
        "Always"
    )
    template["variables"]["properties"]["cpu_request"]["default"] = "lots"
    _, findings = check_source(source({}, template))
    assert sorted((f.path, f.code, f.message) for f in findings) == [
        (("work_pools", 0, "base_job_template"), "k8s-quantity",
         "work pool 'k8s': the Job's spec.template.spec.containers[0].resources.requests.cpu:"
         " 'lots' is not a Kubernetes quantity (a number with an optional suffix: 500m, 2, 1.5,"
         " 512Mi, 2Gi, 1e3) (the default of job variable cpu_request)"),
        (("work_pools", 0, "base_job_template"), "k8s-value",
         "work pool 'k8s': the Job's spec.template.spec.restartPolicy: a Job's pods must have"
         " restartPolicy Never or OnFailure, got 'Always'"),
    ]  # fmt: skip


def test_prefects_default_template_quirk_is_not_reported_but_a_custom_ones_is() -> None:
    """Prefect's default template puts parallelism and completions in the pod spec, where the
    API server drops them (with a warning): nothing the user can act on."""
    _, findings = check_source(source({}, default_template("kubernetes")))
    assert findings == []
    custom = default_template("kubernetes")
    custom["job_configuration"]["namespace"] = "jobs"
    _, findings = check_source(source({}, custom))
    assert sorted((f.code, f.severity, f.message.split(": ")[1]) for f in findings) == [
        ("k8s-unknown-field", "warning", "the Job's spec.template.spec.completions"),
        ("k8s-unknown-field", "warning", "the Job's spec.template.spec.parallelism"),
    ]


def test_unused_job_variables_are_warned_about() -> None:
    _, findings = check_source(source({"tolerations": [{"key": "gpu"}]},
                                      default_template("kubernetes")))  # fmt: skip
    assert [(f.path, f.code, f.severity) for f in findings] == [
        ((*JV, "tolerations"), "k8s-unused-variable", "warning")
    ]


def test_requests_above_limits_are_refused() -> None:
    manifest = render_job(k8s_job_template(), {"image": "etl"}).manifest
    container(manifest)  # present
    main = manifest["spec"]["template"]["spec"]["containers"][0]
    main["resources"] = {"requests": {"memory": "2Gi", "cpu": "1"},
                         "limits": {"memory": "1024Mi", "cpu": "1000m"}}  # fmt: skip
    assert [(i.path[-2:], i.code) for i in semantic_issues(manifest)] == [
        (("requests", "memory"), "k8s-quantity")
    ]


@pytest.mark.parametrize(("text", "value"), [
    ("500m", Decimal("0.5")), ("2", Decimal(2)), ("1.5", Decimal("1.5")), ("512Mi", 512 * 2**20),
    ("1e3", Decimal(1000)), ("1E-3", Decimal("0.001")), (".5", Decimal("0.5")), ("+1k", 1000),
    ("100n", Decimal("1e-7")), ("two", None), ("1.5.2", None), ("2 Gi", None), ("Mi", None),
    ("1gi", None), ("", None), ("1GiB", None),
])  # fmt: skip
def test_quantities(text: str, value: Any) -> None:
    assert quantity_value(text) == value


@pytest.mark.parametrize(("image", "valid"), [
    ("etl", True), ("team/etl:1.2", True), ("registry.example.com:5000/team/etl:v1", True),
    ("localhost/etl", True), ("docker.io/library/python:3.11-slim", True),
    ("ghcr.io/o/r@sha256:" + "a" * 64, True), ("[::1]:5000/etl:1", True),
    ("Team/ETL", False), ("etl:", False), ("etl:bad:tag", False), ("-etl", False),
    ("etl@sha256:short", False), ("my image", False), (" etl", False), ("", False),
])  # fmt: skip
def test_image_references(image: str, valid: bool) -> None:
    assert (image_problem(image) is None) is valid


def test_label_slugs() -> None:
    assert label_key("prefect.io/flow name!") == "prefect.io/flow-name"
    assert label_value("--a b--") == "a-b"
    assert label_value("x" * 80) == "x" * 63


def test_job_variables_merge_as_every_prefect_worker_merges_them() -> None:
    """The kubernetes worker merges with Prefect's base worker (as the process and docker
    workers do): dotted keys expanded at any depth, a plain key's mapping deep-merged over them,
    the defaults' `env` under the job variables' one."""
    template = default_template("kubernetes")
    template["variables"]["properties"]["env"]["default"] = {"FROM_POOL": "1"}
    job = render_job(template, {"labels": {"team": "data"}, "labels.tier": "gold",
                                "env.A": "1", "env": {"B": "2"}})  # fmt: skip
    assert job.problems == []
    assert job.manifest["metadata"]["labels"] == {"team": "data", "tier": "gold"}
    env = {item["name"]: item["value"] for item in container(job.manifest)["env"]}
    assert {key: env[key] for key in ("FROM_POOL", "A", "B")} == {"FROM_POOL": "1", "A": "1",
                                                                  "B": "2"}  # fmt: skip
    refused = render_job(template, {"env": "text"})
    assert refused.problems == [(("env",), "job variable env must be a mapping of names to"
                                           " values, not str")]  # fmt: skip


def test_a_problem_is_reported_at_the_dotted_key_that_made_it() -> None:
    """A dotted job variable deeper than one level (`pod.resources.limits.cpu`) is expanded as
    the worker expands it, and what the Job refuses is reported at that key as written."""
    template = default_template("kubernetes")
    template["variables"]["properties"]["pod"] = {"type": "object"}
    main = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
    main["containers"][0]["resources"] = "{{ pod.resources }}"
    _, findings = check_source(source({"image": "etl:1", "pod.resources.limits.cpu": "lots"},
                                      template))  # fmt: skip
    assert [(f.path, f.code) for f in findings if f.severity == "error"] == [
        ((*JV, "pod.resources.limits.cpu"), "k8s-quantity")
    ]
