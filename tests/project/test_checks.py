"""Semantic checks, through `validate_file` on real files with real flow sources."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from flowplan.project.validate import Options, validate_file

FLOW = """
from enum import Enum
from typing import Literal, Optional

from prefect import flow


class Mode(str, Enum):
    FULL = "full"
    DELTA = "delta"


@flow(name="etl-flow")
def etl(day: str, limit: int = 10, mode: Mode = Mode.FULL, kind: Literal["a", "b"] = "a",
        tables: Optional[list[str]] = None) -> None:
    pass


def helper():
    pass
"""


def findings(project: Callable[..., Path], yaml: str, **options: object) -> list[str]:
    root = project({"prefect.yaml": yaml, "flows/etl.py": FLOW})
    report = validate_file(
        root / "prefect.yaml", "prefect.yaml", Options(**options), env={"SET": "1"}
    )  # type: ignore[arg-type]
    return [f"{f.severity} {f.code} {f.render()}" for f in report.findings]


DEPLOYMENT = """
deployments:
  - name: nightly
    entrypoint: flows/etl.py:etl
    parameters: {day: "2024-01-01"}
"""


def test_a_good_project_has_no_findings(project: Callable[..., Path]) -> None:
    assert findings(project, DEPLOYMENT) == []


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "    schedules: [{cron: '61 * * * *'}]",
            "error invalid-cron prefect.yaml:5:24: deployments[0].schedules[0].cron: invalid cron expression '61 * * * *' (minute must be 0-59, got 61)",
        ),
        (
            "    schedules: [{interval: -1}]",
            "error invalid-interval prefect.yaml:5:28: deployments[0].schedules[0].interval: invalid interval -1 (interval must be greater than 0, got -1)",
        ),
        (
            "    schedules: [{rrule: 'FREQ=NEVER'}]",
            "error invalid-rrule prefect.yaml:5:25: deployments[0].schedules[0].rrule: invalid rrule 'FREQ=NEVER' (invalid rrule: invalid 'FREQ': NEVER)",
        ),
        (
            "    schedules: [{cron: '0 * * * *', timezone: Mars/Olympus}]",
            "error invalid-timezone prefect.yaml:5:47: deployments[0].schedules[0].timezone: unknown time zone 'Mars/Olympus'",
        ),
        (
            "    schedules: [{cron: '0 * * * *', interval: 60}]",
            "error schedule-kind prefect.yaml:5:17: deployments[0].schedules[0]: a schedule has exactly one of cron, interval or rrule; got cron and interval",
        ),
        (
            "    schedules: [{timezone: UTC}]",
            "error schedule-kind prefect.yaml:5:17: deployments[0].schedules[0]: a schedule needs one of cron, interval or rrule",
        ),
        (
            "    schedule: {cron: '0 * * * *'}\n    schedules: []",
            "error schedule-and-schedules prefect.yaml:5:15: deployments[0].schedule: both 'schedule' and 'schedules' are given (move this schedule into the 'schedules' list)",
        ),
        (
            "    schedules: [{cron: '0 * * * *', slug: a}, {interval: 60, slug: a}]",
            "error duplicate-slug prefect.yaml:5:68: deployments[0].schedules[1].slug: schedule slug 'a' is used twice",
        ),
        (
            "    tags: 'a,b'",
            "error schema-type prefect.yaml:5:11: deployments[0].tags: expected a list or null, got text ('a,b') (write a list, e.g. tags: [etl, nightly]; Prefect splits a string into single characters)",
        ),
        (
            "    job_variables: {image: x}",
            "warning misplaced-key prefect.yaml:5:5: deployments[0].job_variables: unknown key 'job_variables' (job_variables belongs under work_pool)",
        ),
        (
            "    work_pool: {name: 'a/b'}",
            "error invalid-name prefect.yaml:5:23: deployments[0].work_pool.name: name 'a/b' contains '/'; names cannot contain / % & > <",
        ),
        (
            "    description: '{{ $UNSET_FOR_TEST }}'",
            "warning template-env-unset prefect.yaml:5:18: deployments[0].description: environment variable UNSET_FOR_TEST is not set here; {{ $UNSET_FOR_TEST }} becomes empty text",
        ),
        (
            "    work_pool: {name: p, job_variables: {image: '{{ build-image.image }}'}}",
            "error template-reference prefect.yaml:5:49: deployments[0].work_pool.job_variables.image: no earlier step has id 'build-image' (step ids before this point: none)",
        ),
        (
            "    work_pool: {name: p, job_variables: {name: '{{ flow_run.name }}'}}",
            "error template-reference prefect.yaml:5:48: deployments[0].work_pool.job_variables.name: {{ flow_run.name }} is not a step output (run-time values are written {{ ctx.flow_run.name }})",
        ),
    ],
)
def test_deployment_checks(project: Callable[..., Path], extra: str, expected: str) -> None:
    [found] = findings(project, DEPLOYMENT.rstrip("\n") + "\n" + extra + "\n")
    assert found.startswith(expected)


@pytest.mark.parametrize(
    ("entrypoint", "expected"),
    [
        (
            "flows/etl.py:helper",
            "error entrypoint-not-flow prefect.yaml:3:17: deployments[0].entrypoint: helper in flows/etl.py is not a flow (decorate it with @flow (from prefect or flowplan))",
        ),
        (
            "flows/etl.py:etll",
            "error entrypoint-function prefect.yaml:3:17: deployments[0].entrypoint: flows/etl.py has no function 'etll' (did you mean 'etl'?)",
        ),
        (
            "flows/nope.py:etl",
            "error entrypoint-not-found prefect.yaml:3:17: deployments[0].entrypoint: entrypoint file 'flows/nope.py' does not exist",
        ),
        (
            "../outside.py:etl",
            "error entrypoint-outside prefect.yaml:3:17: deployments[0].entrypoint: entrypoint '../outside.py:etl' leaves the project root",
        ),
        (
            "/etc/passwd.py:etl",
            "error entrypoint-outside prefect.yaml:3:17: deployments[0].entrypoint: entrypoint '/etc/passwd.py:etl' is an absolute path",
        ),
        (
            "flows\\etl.py:etl",
            "error entrypoint-format prefect.yaml:3:17: deployments[0].entrypoint: entrypoint 'flows\\\\etl.py:etl' uses backslashes",
        ),
        (
            "flows/etl.py:1bad",
            "error entrypoint-format prefect.yaml:3:17: deployments[0].entrypoint: '1bad' is not a function name",
        ),
        (
            "etl",
            "error entrypoint-format prefect.yaml:3:17: deployments[0].entrypoint: entrypoint 'etl' names no file or module",
        ),
        (
            "flows/etl.py",
            "error entrypoint-format prefect.yaml:3:17: deployments[0].entrypoint: entrypoint 'flows/etl.py' names a file but not the flow function in it (write flows/etl.py:flow_function)",
        ),
        ("flows.etl.etl", None),
        ("flows.etl:etl", None),
        (
            "installed.pkg:fn",
            "warning entrypoint-module prefect.yaml:3:17: deployments[0].entrypoint: module 'installed.pkg' is not a file in this project",
        ),
    ],
)
def test_entrypoints(project: Callable[..., Path], entrypoint: str, expected: str | None) -> None:
    yaml = DEPLOYMENT.replace("flows/etl.py:etl", entrypoint)
    found = findings(project, yaml)
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and found[0].startswith(expected), found


def test_symlink_leaving_the_project_is_refused(
    project: Callable[..., Path], tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere.py"
    outside.write_text(FLOW)
    root = project({"prefect.yaml": DEPLOYMENT.replace("flows/etl.py", "link.py")})
    (root / "link.py").symlink_to(outside)
    report = validate_file(root / "prefect.yaml")
    assert [f.code for f in report.findings] == ["entrypoint-outside"]


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        (
            "{day: x, limt: 3}",
            [
                "error parameter-unknown prefect.yaml:4:32: deployments[0].parameters.limt: etl-flow has no parameter 'limt' (did you mean 'limit'?)"
            ],
        ),
        (
            "{day: x, limit: many}",
            [
                "error parameter-type prefect.yaml:4:33: deployments[0].parameters.limit: parameter 'limit' (int): expected an integer, got text ('many')"
            ],
        ),
        (
            "{day: x, mode: partial}",
            [
                "error parameter-type prefect.yaml:4:32: deployments[0].parameters.mode: parameter 'mode' (Mode): must be one of 'full', 'delta'; got text ('partial')"
            ],
        ),
        (
            "{day: x, kind: c}",
            [
                "error parameter-type prefect.yaml:4:32: deployments[0].parameters.kind: parameter 'kind' (Literal['a', 'b']): must be one of 'a', 'b'; got text ('c')"
            ],
        ),
        (
            "{day: x, tables: [a, 1]}",
            [
                "error parameter-type prefect.yaml:4:38: deployments[0].parameters.tables[1]: parameter 'tables' (Optional[list[str]]): expected text, got an integer (1)"
            ],
        ),
        ("{day: x, tables: null, limit: '{{ $SET }}'}", []),
        (
            "{limit: 3}",
            [
                "warning parameter-missing prefect.yaml:4:17: deployments[0].parameters: required parameter 'day' of etl-flow has no value (give it under parameters, or every run must pass it)"
            ],
        ),
    ],
)
def test_parameters_against_the_signature(
    project: Callable[..., Path], parameters: str, expected: list[str]
) -> None:
    yaml = DEPLOYMENT.replace('{day: "2024-01-01"}', parameters)
    assert findings(project, yaml) == expected


def test_steps_and_references(project: Callable[..., Path]) -> None:
    yaml = """
build:
  - prefect_docker.deployments.steps.build_docker_image:
      id: build-image
      image_name: acme/etl
      tag: "{{ push-it.tag }}"
push:
  - prefect_docker.deployments.steps.push_docker_image:
      id: push-it
      image_name: "{{ build-image.image_name }}"
      tag: "{{ build-image.tagg }}"
pull:
  - prefect.deployments.steps.git_clon:
      repository: https://example.com/r.git
  - prefect.projects.steps.set_working_directory:
      directory: "{{ clone.directory }}"
deployments:
  - name: nightly
    entrypoint: flows/etl.py:etl
    parameters: {day: x}
    work_pool: {name: p, job_variables: {image: "{{ build-image.image }}"}}
"""
    assert findings(project, yaml) == [
        "error template-order prefect.yaml:5:12: build[0].prefect_docker.deployments.steps.build_docker_image.tag: {{ push-it.tag }} refers to step 'push-it', which runs after this one",
        "error template-output prefect.yaml:10:12: push[0].prefect_docker.deployments.steps.push_docker_image.tag: {{ build-image.tagg }}: step 'build-image' (build_docker_image) has no output 'tagg' (did you mean 'tag'?)",
        "error unknown-step prefect.yaml:12:5: pull[0].prefect.deployments.steps.git_clon: unknown step function 'prefect.deployments.steps.git_clon' (did you mean prefect.deployments.steps.git_clone?)",
        "warning legacy-step-name prefect.yaml:14:5: pull[1].prefect.projects.steps.set_working_directory: prefect.projects.steps.set_working_directory is a Prefect 2 name that Prefect 3 no longer has (write prefect.deployments.steps.set_working_directory)",
        "error template-reference prefect.yaml:15:18: pull[1].prefect.projects.steps.set_working_directory.directory: no earlier step has id 'clone' (step ids before this point: build-image, push-it)",
    ]


def test_names_duplicates_and_unnamed(project: Callable[..., Path]) -> None:
    yaml = """
definitions:
  base: &base
    entrypoint: flows/etl.py:etl
    parameters: {day: x}
deployments:
  - {<<: *base, name: a}
  - {<<: *base, name: a}
  - {<<: *base}
  - {<<: *base, name: 'x>y'}
"""
    assert findings(project, yaml) == [
        "error duplicate-deployment prefect.yaml:7:23: deployments[1].name: deployment etl-flow/a is declared twice (first at deployments[0])",
        "error unnamed-deployment prefect.yaml:8:5: deployments[2]: deployment has no name (add name: ...; Prefect would skip it silently)",
        "error invalid-name prefect.yaml:9:23: deployments[3].name: name 'x>y' contains '>'; names cannot contain / % & > <",
    ]


def test_top_level_anchor_holders_are_legal_but_other_unknown_keys_warn(
    project: Callable[..., Path],
) -> None:
    yaml = "common: &c {day: x}\nentrypoint: x.py:f\n" + DEPLOYMENT.replace(
        '{day: "2024-01-01"}', "*c"
    )
    assert findings(project, yaml) == [
        "warning misplaced-key prefect.yaml:2:1: entrypoint: unknown key 'entrypoint' (entrypoint belongs to each deployment, under deployments)"
    ]
    assert findings(project, yaml, strict=True)[0].startswith("error misplaced-key")
    assert findings(project, yaml, ignore=frozenset({"misplaced-key"})) == []


def test_flow_file_with_a_syntax_error_is_reported(project: Callable[..., Path]) -> None:
    root = project(
        {"prefect.yaml": DEPLOYMENT, "flows/etl.py": "from prefect import flow\n@flow\ndef etl(:\n"}
    )
    report = validate_file(root / "prefect.yaml", "prefect.yaml")
    [finding] = report.findings
    assert finding.code == "entrypoint-source"
    assert finding.message.startswith("cannot check the flow: flows/etl.py:3:9: syntax error")


def test_user_code_is_never_imported(project: Callable[..., Path], tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    source = f"open({str(marker)!r}, 'w').write('x')\nfrom prefect import flow\n@flow\ndef etl(day): pass\n"
    root = project({"prefect.yaml": DEPLOYMENT, "flows/etl.py": source})
    assert validate_file(root / "prefect.yaml").findings == []
    assert not marker.exists()


def test_references_are_listed(project: Callable[..., Path]) -> None:
    yaml = (
        DEPLOYMENT
        + "    description: '{{ prefect.variables.desc }} {{ prefect.blocks.secret.token }} {{ $SET }}'\n"
    )
    root = project({"prefect.yaml": yaml, "flows/etl.py": FLOW})
    report = validate_file(root / "prefect.yaml", env={"SET": "1"})
    assert report.references.to_json() == {
        "env": ["SET"],
        "blocks": ["secret/token"],
        "variables": ["desc"],
    }


def test_schedules_that_can_only_fail_or_never_fire(project: Callable[..., Path]) -> None:
    yaml = """
deployments:
  - name: a
    entrypoint: flows/etl.py:etl
    schedules:
      - cron: "0 0 31 2 *"
      - cron: "0 0 31 2 1"
        parameters: {day: monday}
      - {cron: "0 3 * * *", active: false}
  - name: b
    entrypoint: flows/etl.py:etl
"""
    assert findings(project, yaml) == [
        "error parameter-missing-scheduled prefect.yaml:5:9: deployments[0].schedules[0]: required parameter 'day' of etl-flow has no value, so every run of this schedule would fail (give it under the deployment's parameters, or this schedule's parameters)",
        "error invalid-cron prefect.yaml:5:15: deployments[0].schedules[0].cron: invalid cron expression '0 0 31 2 *' (no date ever matches it (check the day of the month against the month))",
        "warning parameter-missing prefect.yaml:9:5: deployments[1].parameters: required parameter 'day' of etl-flow has no value (give it under parameters, or every run must pass it)",
    ]


def test_a_pool_type_plan_refuses_is_an_error_in_validate(project: Callable[..., Path]) -> None:
    yaml = "work_pools:\n  - {name: p, type: proces}\n" + DEPLOYMENT
    found = findings(project, yaml)
    assert (
        "error pool-type prefect.yaml:2:21: work_pools[0].type: unknown work pool type 'proces'; flowplan knows process, docker, kubernetes (did you mean 'process'?)"
        in found
    )


def test_a_file_without_deployments_chains_its_build_push_and_pull(
    project: Callable[..., Path],
) -> None:
    """`prefect deploy ENTRYPOINT` runs the file's build, push and pull steps in that order
    when it declares no deployments: each step sees the outputs of the ones before it."""
    yaml = """
build:
  - prefect_docker.deployments.steps.build_docker_image:
      id: build-image
      image_name: acme/etl
      tag: latest
push:
  - prefect_docker.deployments.steps.push_docker_image:
      id: push-it
      image_name: "{{ build-image.image_name }}"
      tag: "{{ build-image.tag }}"
pull:
  - prefect.deployments.steps.run_shell_script:
      script: "echo {{ push-it.image_name }} {{ build-image.image }}"
"""
    assert findings(project, yaml) == []
    later = yaml.replace("image_name: acme/etl", "image_name: '{{ push-it.image_name }}'")
    assert findings(project, later) == [
        "error template-order prefect.yaml:4:19: build[0].prefect_docker.deployments.steps.build_docker_image.image_name: {{ push-it.image_name }} refers to step 'push-it', which runs after this one",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("shape", "where", "expected"),
    [
        ("deployments:\n", "deployments", "expected a list, got null"),
        ("deployments:\n  - name: n\n    entrypoint: flows/etl.py:etl\n    parameters:\n",
         "deployments[0].parameters", "expected a mapping, got null"),
        ("deployments:\n  - name: n\n    entrypoint: flows/etl.py:etl\n    parameters: {day: x}\n"
         "    work_pool: {name: p, job_variables: null}\n",
         "deployments[0].work_pool.job_variables", "expected a mapping, got null"),
        ("deployments:\n  - name: n\n    entrypoint: flows/etl.py:etl\n    parameters: {day: x}\n"
         "    schedules: [{cron: '0 * * * *', parameters: null}]\n",
         "deployments[0].schedules[0].parameters", "expected a mapping, got null"),
    ],
)  # fmt: skip
def test_an_empty_value_prefect_refuses_is_an_error(
    project: Callable[..., Path], shape: str, where: str, expected: str
) -> None:
    """Prefect's `prefect deploy` refuses these (and then ignores the whole file)."""
    found = findings(project, shape)
    [finding] = [f for f in found if f.startswith("error")]
    assert finding.startswith("error schema-type prefect.yaml:")
    assert f": {where}: {expected} (" in finding and "ignores the whole file" in finding
