from __future__ import annotations

import pytest

from flowplan.domain.job_config import WorkPoolJobConfiguration
from flowplan.domain.job_templates import (
    POOL_TYPES,
    default_template,
    job_variable_problems,
    template_problems,
)
from flowplan.domain.names import check_key_name, check_name
from flowplan.domain.values import check_limit
from flowplan.errors import InvalidInput


@pytest.mark.parametrize("pool_type", POOL_TYPES)
def test_default_templates_are_valid(pool_type: str) -> None:
    template = default_template(pool_type)
    assert template_problems(template) == []
    variables = template["variables"]["properties"]
    assert {"name", "env", "labels", "command"} <= set(variables)
    assert default_template(pool_type) is not default_template(pool_type)  # copies


def test_process_template_matches_prefect() -> None:
    template = default_template("process")
    assert template["job_configuration"] == {
        key: f"{{{{ {key} }}}}"
        for key in ("name", "env", "labels", "command", "stream_output", "working_dir")
    }
    assert template["variables"]["properties"]["stream_output"]["default"] is True


def test_kubernetes_manifest_uses_the_variables() -> None:
    config = default_template("kubernetes")["job_configuration"]
    container = config["job_manifest"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "{{ image }}"
    assert config["namespace"] == "{{ namespace }}"


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ([], "must be a JSON object, got list"),
        ({"job_configuration": {}, "variables": {}, "extra": 1}, "unknown key 'extra'"),
        ({"job_configuration": "x", "variables": {}}, "job_configuration must be a JSON object"),
        ({"job_configuration": {}, "variables": []}, "variables must be a JSON Schema object"),
        ({"job_configuration": {"a": "{{ b }}"}, "variables": {"properties": {}}},
         "undeclared variable(s): b"),
        ({"job_configuration": {}, "variables": {"properties": {"a": {"type": "strng"}}}},
         "variables.properties.a.type: unknown type 'strng'"),
    ],
)  # fmt: skip
def test_bad_templates(template: object, problem: str) -> None:
    assert any(problem in found for found in template_problems(template)), template_problems(
        template
    )


def test_empty_template_is_allowed() -> None:
    assert template_problems({}) == []


def test_job_variables_against_the_docker_template() -> None:
    template = default_template("docker")
    assert job_variable_problems({"image": "x:1", "volumes": ["/a:/b"]}, template) == []
    assert job_variable_problems({"custom": 1}, template) == []  # extra keys are allowed
    assert job_variable_problems({"volumes": "/a:/b", "auto_remove": "yes"}, template) == [
        "job_variables.volumes: expected a list, got text ('/a:/b')",
        "job_variables.auto_remove: expected a boolean, got text ('yes')",
    ]
    assert job_variable_problems(
        {"image_pull_policy": "Sometimes"}, template
    ) == ["job_variables.image_pull_policy: must be one of 'IfNotPresent', 'Always', 'Never'; "
          "got text ('Sometimes')"]  # fmt: skip


def test_required_variables_only_for_runs() -> None:
    template = {
        "job_configuration": {"image": "{{ image }}"},
        "variables": {"properties": {"image": {"type": "string"}}, "required": ["image"]},
    }
    assert job_variable_problems({"other": 1}, template) == []
    assert job_variable_problems({"other": 1}, template, check_required=True) == [
        "job_variables: missing required key 'image'"
    ]


def test_job_configuration_renders_defaults_and_layers() -> None:
    config = WorkPoolJobConfiguration.from_template(
        default_template("process"),
        {"env": {"A": "1", "B": "2"}, "working_dir": "/srv"},
        {"env.B": "3", "name": "run-{{ ctx.flow_run.name }}"},
    )
    # as Prefect's worker: a dotted key is expanded under the plain `env`, which wins
    assert config.env == {"A": "1", "B": "2"}
    assert (config.working_dir, config.stream_output) == ("/srv", True)
    assert config.name == "run-{{ ctx.flow_run.name }}"
    assert config.command is None and config.extra == {}
    config = WorkPoolJobConfiguration.from_template(
        default_template("process"), {"env": {"A": "1"}}, {"env.B": "3", "env": {"C": "4"}}
    )
    assert config.env == {"A": "1", "B": "3", "C": "4"}


def test_job_configuration_keeps_other_keys_in_extra() -> None:
    config = WorkPoolJobConfiguration.from_template(default_template("docker"), {"image": "i:1"})
    assert config.extra["image"] == "i:1"
    assert config.extra["auto_remove"] is False  # the variable's default
    assert "networks" not in config.extra  # no value and no default: the key is dropped


def test_names() -> None:
    assert check_name("pool", "my pool-1") == "my pool-1"
    for bad, message in (("a/b", "'/'"), ("a\tb", "'\\\\t'"), ("x" * 256, "at most 255"),
                         ("", "must not be empty")):  # fmt: skip
        with pytest.raises(InvalidInput, match=message):
            check_name("pool", bad)
    assert check_key_name("variable", "my_var-1") == "my_var-1"
    with pytest.raises(InvalidInput, match="letters, digits"):
        check_key_name("variable", "my.var")
    assert check_limit("limit", None) is None
    with pytest.raises(InvalidInput, match="at least 1, got 0"):
        check_limit("limit", 0)
