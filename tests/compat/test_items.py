"""PREFECT-COMPAT.md section 10, item by item: Prefect's behaviour, or flowplan's documented
departure (named in the test). Items whose feature is not built yet are listed in the README's
compatibility table, not here."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flowplan.backends import get_backend
from flowplan.domain.clock import utcnow
from flowplan.domain.schedule_rules import parse_interval
from flowplan.errors import StepExecutionError
from flowplan.steps.runner import StepContext, run_steps
from flowplan.templating import apply_values, resolve_references
from tests.conftest import Result

Cli = Callable[..., Result]
FLOW = (
    "from prefect import flow\n\n"
    "@flow(name='An important name')\n"
    "def my_flow(number: int = 1, message: str = 'hi'):\n    pass\n"
)
SHELL = "prefect.deployments.steps.run_shell_script"


@pytest.fixture
def hello(project: Callable[..., Path]) -> Callable[[str], Path]:
    """A project with flows/hello.py:my_flow, the pool P, and the given prefect.yaml (or none)."""

    def make(config: str = "") -> Path:
        files = {"flows/hello.py": FLOW}
        if config:
            files["prefect.yaml"] = config
        root = project(files)
        if "P" not in {p.name for p in get_backend().read_work_pools()}:
            # as in Prefect's tests: a pool whose (empty) template constrains no job variable
            get_backend().create_work_pool("P", "process", base_job_template={})
        return root

    return make


def stored(name: str = "An important name/test-name") -> Any:
    return get_backend().read_deployment(name)


def test_item_08_deploy_flags(cli: Cli, hello: Callable[[str], Path]) -> None:
    hello("")
    done = cli("deploy", "./flows/hello.py:my_flow", "-n", "test-name", "-p", "P",
               "--version", "1.0.0", "-jv", "env=prod", "-t", "foo-bar")  # fmt: skip
    assert done.code == 0, done.err
    d = stored()
    assert (d.work_pool_name, d.version, d.tags, d.job_variables) == (
        "P", "1.0.0", ("foo-bar",), {"env": "prod"})  # fmt: skip
    assert d.enforce_parameter_schema is True
    assert "flowplan worker start --pool 'P'" in done.out


def test_item_09_no_enforce_parameter_schema(cli: Cli, hello: Callable[[str], Path]) -> None:
    hello("")
    assert cli("deploy", "./flows/hello.py:my_flow", "-n", "test-name", "-p", "P",
               "--no-enforce-parameter-schema").code == 0  # fmt: skip
    assert stored().enforce_parameter_schema is False


def test_item_13_default_pool_setting(
    cli: Cli, hello: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    hello("")
    monkeypatch.setenv("PREFECT_DEFAULT_WORK_POOL_NAME", "P")
    assert cli("deploy", "./flows/hello.py:my_flow", "-n", "test-name").code == 0
    assert stored().work_pool_name == "P"


def test_item_14_no_pool_is_an_error(cli: Cli, hello: Callable[[str], Path]) -> None:
    hello("")
    done = cli("deploy", "./flows/hello.py:my_flow", "-n", "test-name")
    assert done.code == 1 and "has no work pool" in done.err


def test_item_16_no_entrypoint(cli: Cli, hello: Callable[[str], Path]) -> None:
    hello("deployments: []\n")
    done = cli("deploy")
    assert done.code == 1 and "an entrypoint must be provided" in done.err


def test_item_17_a_failing_build_step_fails_the_deploy(
    cli: Cli, hello: Callable[[str], Path]
) -> None:
    hello(f"build:\n  - {SHELL}: {{script: cat nothing}}\ndeployments:\n"
          "  - {name: test-name, entrypoint: flows/hello.py:my_flow, work_pool: {name: P}}\n")  # fmt: skip
    done = cli("deploy", "-n", "test-name")
    assert done.code == 1 and "step 'prefect.deployments.steps.run_shell_script' failed" in (
        done.err
    )


def test_item_22_env_in_the_pool_name(
    cli: Cli, hello: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = hello("deployments:\n  - {name: test-name, entrypoint: flows/hello.py:my_flow,"
                 " work_pool: {name: '{{ $WORK_POOL }}'}}\n")  # fmt: skip
    monkeypatch.setenv("WORK_POOL", "P")
    assert cli("deploy", "--all").code == 0
    assert stored().work_pool_name == "P"
    assert "{{ $WORK_POOL }}" in (root / "prefect.yaml").read_text()


def test_item_23_ctx_placeholders_kept(cli: Cli, hello: Callable[[str], Path]) -> None:
    hello("deployments:\n  - name: test-name\n    entrypoint: flows/hello.py:my_flow\n"
          "    work_pool:\n      name: P\n"
          "      job_variables: {name: 'job-{{ ctx.flow.name }}/{{ ctx.flow_run.name }}'}\n")  # fmt: skip
    assert cli("deploy", "-n", "test-name").code == 0
    assert stored().job_variables == {"name": "job-{{ ctx.flow.name }}/{{ ctx.flow_run.name }}"}


@pytest.mark.parametrize("args", [["--param", "number=2"], ["--params", '{"number": 2}']])
def test_item_24_cli_parameters_over_yaml(
    cli: Cli, hello: Callable[[str], Path], args: list[str]
) -> None:
    hello("deployments:\n  - {name: test-name, entrypoint: flows/hello.py:my_flow,"
          " work_pool: {name: P}, parameters: {number: 1, message: hello}}\n")  # fmt: skip
    assert cli("deploy", "-n", "test-name", *args).code == 0
    assert stored().parameters == {"number": 2, "message": "hello"}


def test_item_25_default_pull_step(cli: Cli, hello: Callable[[str], Path]) -> None:
    root = hello("")
    assert cli("deploy", "./flows/hello.py:my_flow", "-n", "test-name", "-p", "P").code == 0
    assert stored().pull_steps == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(root)}}
    ]


@pytest.mark.parametrize(
    ("top", "own", "expected"),
    [("pull: []\n", "", []), ("pull:\n  - prefect.deployments.steps.git_clone: {repository: x}\n",
      "    pull: []\n", []), ("pull: null\n", "", None)],
    ids=["item_26_top_empty", "item_27_own_empty", "item_28_top_null"],
)  # fmt: skip
def test_items_26_to_28_pull_defaults(
    cli: Cli, hello: Callable[[str], Path], top: str, own: str, expected: list[Any] | None
) -> None:
    root = hello(top + "deployments:\n  - name: test-name\n    entrypoint: flows/hello.py:my_flow\n"
                 "    work_pool: {name: P}\n" + own)  # fmt: skip
    assert cli("deploy", "-n", "test-name").code == 0
    default = [{"prefect.deployments.steps.set_working_directory": {"directory": str(root)}}]
    assert stored().pull_steps == (default if expected is None else expected)


def test_item_31_cron_with_time_zone(cli: Cli, hello: Callable[[str], Path]) -> None:
    hello("")
    assert cli("deploy", "./flows/hello.py:my_flow", "-n", "test-name", "-p", "P",
               "--cron", "0 4 * * *", "--timezone", "Europe/Berlin").code == 0  # fmt: skip
    (schedule,) = stored().schedules
    assert schedule.schedule.to_json() == {"cron": "0 4 * * *", "timezone": "Europe/Berlin",
                                           "day_or": True}  # fmt: skip


def test_item_32_cli_time_zone_over_yaml(cli: Cli, hello: Callable[[str], Path]) -> None:
    hello("deployments:\n  - {name: test-name, entrypoint: flows/hello.py:my_flow, work_pool: {name: P},"
          " schedules: [{cron: '0 4 * * *', timezone: America/Chicago}]}\n")  # fmt: skip
    assert cli("deploy", "-n", "test-name", "--timezone", "Europe/Berlin").code == 0
    (schedule,) = stored().schedules
    assert schedule.schedule.timezone == "Europe/Berlin"


def test_item_33_interval_with_anchor(cli: Cli, hello: Callable[[str], Path]) -> None:
    hello("")
    assert cli("deploy", "./flows/hello.py:my_flow", "-n", "test-name", "-p", "P", "--interval",
               "42", "--anchor-date", "2040-02-02", "--timezone", "America/New_York").code == 0  # fmt: skip
    (schedule,) = stored().schedules
    data = schedule.schedule.to_json()
    assert (data["interval"], data["anchor_date"][:10], data["timezone"]) == (
        42, "2040-02-02", "America/New_York")  # fmt: skip


def test_item_34_schedule_parameters_and_slug(cli: Cli, hello: Callable[[str], Path]) -> None:
    hello("deployments:\n  - {name: test-name, entrypoint: flows/hello.py:my_flow, work_pool: {name: P},"
          " schedules: [{cron: '0 4 * * *', parameters: {number: 42}, slug: test-slug}]}\n")  # fmt: skip
    assert cli("deploy", "-n", "test-name").code == 0
    (schedule,) = stored().schedules
    assert (schedule.parameters, schedule.slug) == ({"number": 42}, "test-slug")


def test_item_36_schedule_and_schedules(cli: Cli, hello: Callable[[str], Path]) -> None:
    hello("deployments:\n  - {name: test-name, entrypoint: flows/hello.py:my_flow, work_pool: {name: P},"
          " schedule: {cron: '0 4 * * *'}, schedules: [{cron: '0 5 * * *'}]}\n")  # fmt: skip
    done = cli("deploy", "-n", "test-name")
    assert done.code == 1 and "schedule" in done.out + done.err


def test_item_38_templated_active(
    cli: Cli, hello: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    hello("deployments:\n  - {name: test-name, entrypoint: flows/hello.py:my_flow, work_pool: {name: P},"
          " schedules: [{cron: '0 4 * * *', active: '{{ $SCHEDULE_IS_ACTIVE }}'}]}\n")  # fmt: skip
    monkeypatch.setenv("SCHEDULE_IS_ACTIVE", "false")
    assert cli("deploy", "-n", "test-name").code == 0
    assert stored().schedules[0].active is False


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(600, 600), (600.5, 600.5), ("PT10M", 600), ("PT1H30M", 5400), ("P1D", 86400),
     ("1:30:00", 5400)],
)  # fmt: skip
def test_item_42_interval_forms(value: object, seconds: float) -> None:
    assert parse_interval(value) == seconds


def test_item_47_one_named_deployment_with_a_cron(cli: Cli, hello: Callable[[str], Path]) -> None:
    hello("deployments:\n"
          "  - {name: test-name-1, entrypoint: flows/hello.py:my_flow, work_pool: {name: P}}\n"
          "  - {name: test-name-2, entrypoint: flows/hello.py:my_flow, work_pool: {name: P}}\n")  # fmt: skip
    assert cli("deploy", "-n", "test-name-1", "--cron", "0 * * * *").code == 0
    assert [d.name for d in get_backend().read_deployments()] == ["test-name-1"]
    assert stored("An important name/test-name-1").schedules[0].schedule.to_json()["cron"] == (
        "0 * * * *"
    )


def test_item_48_the_single_config_is_reused_and_renamed(
    cli: Cli, hello: Callable[[str], Path]
) -> None:
    hello("deployments:\n  - {name: test-name-1, entrypoint: flows/hello.py:my_flow,"
          " parameters: {number: 7}}\n")  # fmt: skip
    assert cli("deploy", "--name", "from-cli-name", "--pool", "P",
               "./flows/hello.py:my_flow").code == 0  # fmt: skip
    assert [d.name for d in get_backend().read_deployments()] == ["from-cli-name"]
    assert stored("An important name/from-cli-name").parameters == {"number": 7}


@pytest.mark.parametrize("pattern", ["my-flow/test-name-*", "*-name-*", "*/t*",
                                     "my-f*/test-name-1", "my_flow/test-name-1"])  # fmt: skip
def test_items_52_and_54_patterns(cli: Cli, hello: Callable[[str], Path], pattern: str) -> None:
    hello("deployments:\n"
          "  - {name: test-name-1, entrypoint: flows/hello.py:my_flow, work_pool: {name: P}}\n")  # fmt: skip
    assert cli("deploy", "-n", pattern).code == 0
    assert [d.name for d in get_backend().read_deployments()] == ["test-name-1"]


def test_item_57_job_variables(cli: Cli, hello: Callable[[str], Path]) -> None:
    hello("")
    assert cli("deploy", "./flows/hello.py:my_flow", "-n", "test-name", "-p", "P", "-jv",
               "env=prod", "--job-variable", '{"resources":{"limits":{"cpu": 1}}}').code == 0  # fmt: skip
    assert stored().job_variables == {"env": "prod", "resources": {"limits": {"cpu": 1}}}
    bad = cli("deploy", "./flows/hello.py:my_flow", "-n", "x", "-p", "P", "-jv", "my-variable")
    assert bad.code == 1 and "could not parse job variable" in bad.err


def context(**secrets: str) -> StepContext:
    return StepContext(variable=lambda name: {"x": "var-x"}.get(name),
                       secret=lambda name: secrets[name])  # fmt: skip


def test_item_62_shell_outputs() -> None:
    assert run_steps([{SHELL: {"script": "echo 'this is a test'"}}], context()) == {
        "stdout": "this is a test", "stderr": ""}  # fmt: skip


def test_item_63_an_extra_key_in_a_step() -> None:
    with pytest.raises(StepExecutionError, match="unexpected"):
        run_steps([{SHELL: {"script": "echo"}, "id": "x"}], context())


def test_item_64_secret_and_embedded_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_ENV_VAR", "from-env")
    outputs = run_steps([
        {SHELL: {"id": "a", "script": "{{ prefect.blocks.secret.cmd }}"}},
        {SHELL: {"id": "b", "script": "echo {{ $TEST_ENV_VAR }} {{ prefect.variables.x }}"}},
    ], context(cmd="echo 'I am a secret!'"))  # fmt: skip
    assert (outputs["a"]["stdout"], outputs["b"]["stdout"]) == ("I am a secret!", "from-env var-x")


def test_item_66_a_later_step_reads_an_earlier_ones_output() -> None:
    outputs = run_steps([
        {SHELL: {"id": "why_not_to_panic", "script": 'echo "Don\'t Panic: this is a test"'}},
        {SHELL: {"script": "echo \"{{ why_not_to_panic.stdout }}\""}},
    ], context())  # fmt: skip
    assert outputs["stdout"] == "Don't Panic: this is a test"
    assert outputs["why_not_to_panic"]["stdout"] == "Don't Panic: this is a test"


def test_item_67_a_step_module_that_does_not_exist() -> None:
    with pytest.raises(StepExecutionError, match=re.escape("nowhere.to.be.found.step")):
        run_steps([{"nowhere.to.be.found.step": {}}], context())


def test_item_68_env_without_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = run_steps([{SHELL: {"script": "echo $TEST_ENV_VAR", "env": {"TEST_ENV_VAR": "v"}}}],
                      context())  # fmt: skip
    assert plain["stdout"] == "$TEST_ENV_VAR"
    shell = run_steps([{SHELL: {"script": "bash -c 'echo $TEST_ENV_VAR'",
                                "env": {"TEST_ENV_VAR": "v"}}}], context())  # fmt: skip
    assert shell["stdout"] == "v"


def test_item_69_set_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "subdir").mkdir()
    monkeypatch.chdir(tmp_path)
    step = "prefect.deployments.steps.set_working_directory"
    assert run_steps([{step: {"directory": "subdir"}}], context()) == {
        "directory": str(tmp_path / "subdir")}  # fmt: skip
    assert Path.cwd() == tmp_path / "subdir"


def test_item_70_git_clone_branch_and_directory() -> None:
    from flowplan.steps.builtin.git import clone_directory

    step = "prefect.deployments.steps.git_clone"
    with pytest.raises(StepExecutionError, match="-"):
        run_steps([{step: {"repository": "https://github.com/org/repo.git",
                           "branch": "--upload-pack=touch /tmp/x"}}], context())  # fmt: skip
    assert clone_directory("https://github.com/org/repo.git", None, None) == "repo"


def test_item_71_a_missing_env_variable_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISSING_ENV_VAR", raising=False)
    assert apply_values("{{ $MISSING_ENV_VAR }}", {}) == ""


def test_item_72_missing_values_dropped_or_kept() -> None:
    template = {"last_name": "{{last_name}}", "age": "{{age}}"}
    assert apply_values(template, {"age": 30}) == {"age": 30}
    assert apply_values("Bob {{last_name}}", {}, remove_notset=False) == "Bob {{last_name}}"


def test_item_73_indexed_and_nested_lookups() -> None:
    values = {"people": [{"name": "Bob"}], "heroes": {"superman": {"power": "flight"}}}
    assert apply_values("{{ people[0].name }}", values) == "Bob"
    assert apply_values("{{ heroes.superman }}", values) == {"power": "flight"}


def test_item_75_missing_prefect_variables_are_empty() -> None:
    assert resolve_references("{{ prefect.variables.a }}", lambda n: None, lambda p: None) == ""
    both = "{{ prefect.variables.a }} - {{ prefect.variables.b }}"
    assert resolve_references(both, lambda n: None, lambda p: None) == " - "


def test_item_76_run_deployment_at_once_and_idempotent(
    cli: Cli, hello: Callable[[str], Path]
) -> None:
    from flowplan import run_deployment

    hello("")
    assert cli("deploy", "./flows/hello.py:my_flow", "-n", "test-name", "-p", "P").code == 0
    run = run_deployment("An important name/test-name", timeout=0)
    assert abs(run.expected_start_time - utcnow()) < timedelta(seconds=1)
    first = run_deployment("An important name/test-name", timeout=0, idempotency_key="12345")
    again = run_deployment("An important name/test-name", timeout=0, idempotency_key="12345")
    assert first.id == again.id


def test_item_77_deployment_run_errors(cli: Cli, hello: Callable[[str], Path]) -> None:
    hello("")
    assert cli("deploy", "./flows/hello.py:my_flow", "-n", "test-name", "-p", "P").code == 0
    both = cli("deployment", "run", "An important name/test-name", "--start-in", "1m",
               "--start-at", "2030-01-01")  # fmt: skip
    assert both.code == 1 and "either --start-in or --start-at" in both.err
    unknown = cli("deployment", "run", "An important name/test-name", "--param", "nope=1")
    assert unknown.code == 1 and "not found on the deployment" in unknown.err


def test_item_12_a_flow_file_whose_imports_fail(cli: Cli, project: Callable[..., Path]) -> None:
    project({"flows/w.py": "import not_installed_anywhere\nfrom prefect import flow\n\n"
                           "@flow(name='wrapped-flow')\ndef f():\n    pass\n"})  # fmt: skip
    get_backend().create_work_pool("P", "process")
    assert cli("deploy", "./flows/w.py:f", "-n", "test-name", "-p", "P").code == 0
    assert get_backend().read_deployment("wrapped-flow/test-name").name == "test-name"


def test_item_20_departure_an_output_the_step_does_not_give_is_an_error(
    cli: Cli, hello: Callable[[str], Path]
) -> None:
    """Departure (README): Prefect drops the field with a warning, and the deployment then runs
    without the value; flowplan names the step's outputs before anything is deployed."""
    hello(f"build:\n  - {SHELL}: {{id: s, script: echo}}\ndeployments:\n"
          "  - {name: test-name, entrypoint: flows/hello.py:my_flow, work_pool: {name: P,"
          " job_variables: {image: '{{ s.nothing-here }}'}}}\n")  # fmt: skip
    done = cli("deploy", "-n", "test-name")
    assert done.code == 1
    assert "job_variables.image: {{ s.nothing-here }}" in done.out and "stdout" in done.out
    assert get_backend().read_deployments() == []


def test_item_39_an_absent_active_keeps_a_deactivated_schedule(
    cli: Cli, hello: Callable[[str], Path]
) -> None:
    hello("deployments:\n  - {name: test-name, entrypoint: flows/hello.py:my_flow, work_pool: {name: P},"
          " schedules: [{cron: '0 4 * * *', slug: s}]}\n")  # fmt: skip
    assert cli("deploy", "-n", "test-name").code == 0
    d = stored()
    get_backend().update_deployment_schedule(d.id, d.schedules[0].id, {"active": False})
    assert cli("deploy", "-n", "test-name").code == 0
    assert stored().schedules[0].active is False


def test_item_40_departure_a_declared_schedule_list_is_the_whole_set(
    cli: Cli, hello: Callable[[str], Path]
) -> None:
    """Departure (README): the file's `schedules:` is the whole set, as GitOps wants."""
    from flowplan.domain.schedules import CronSchedule
    from flowplan.domain.specs import ScheduleSpec

    hello("deployments:\n  - {name: test-name, entrypoint: flows/hello.py:my_flow, work_pool: {name: P},"
          " schedules: [{cron: '0 4 * * *', slug: from-yaml}]}\n")  # fmt: skip
    assert cli("deploy", "-n", "test-name").code == 0
    get_backend().create_deployment_schedules(
        stored().id, [ScheduleSpec(CronSchedule("0 5 * * *"), slug="by-hand")])  # fmt: skip
    assert cli("deploy", "-n", "test-name").code == 0
    assert [s.slug for s in stored().schedules] == ["from-yaml"]


TWO = ("deployments:\n"
       "  - {name: test-name-1, entrypoint: flows/hello.py:my_flow, work_pool: {name: P}}\n"
       "  - {name: test-name-2, entrypoint: flows/hello.py:my_flow, work_pool: {name: P}}\n")  # fmt: skip


def test_item_44_all(cli: Cli, hello: Callable[[str], Path]) -> None:
    hello(TWO)
    done = cli("deploy", "--all")
    assert done.code == 0 and "ignored" not in done.err
    assert sorted(d.name for d in get_backend().read_deployments()) == [
        "test-name-1",
        "test-name-2",
    ]


def test_item_46_all_on_the_default_pool(
    cli: Cli, hello: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    hello(TWO.replace(", work_pool: {name: P}", ""))
    monkeypatch.setenv("PREFECT_DEFAULT_WORK_POOL_NAME", "P")
    assert cli("deploy", "--all").code == 0
    assert {d.work_pool_name for d in get_backend().read_deployments()} == {"P"}


def test_item_51_several_configs_and_no_name(cli: Cli, hello: Callable[[str], Path]) -> None:
    hello(TWO)
    done = cli("deploy")
    assert done.code == 1 and "has 2 deployments and no name was given" in done.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--all", "--cron", "0 * * * *"], "command-line options apply to one deployment"),
        (["-n", "test-name-2", "-n", "test-name-3"], "no deployment matches: test-name-3"),
    ],
    ids=["item_45", "item_50"],
)
def test_items_45_and_50_departures_are_errors(
    cli: Cli, hello: Callable[[str], Path], args: list[str], message: str
) -> None:
    """Departures (DESIGN.md section 9): Prefect warns and goes on; flowplan stops."""
    hello(TWO)
    done = cli("deploy", *args)
    assert done.code == 1 and message in done.err
    assert get_backend().read_deployments() == []


def test_item_49_departure_an_unnamed_deployment_is_an_error(
    cli: Cli, hello: Callable[[str], Path]
) -> None:
    hello("deployments:\n  - {entrypoint: flows/hello.py:my_flow, work_pool: {name: P}}\n")
    done = cli("deploy", "--all")
    assert done.code == 1 and "deployment has no name" in done.out + done.err


def test_item_53_departure_two_deployments_of_one_name(
    cli: Cli, hello: Callable[[str], Path]
) -> None:
    """Departure (DESIGN.md section 9): Prefect deploys both, the second over the first."""
    hello(TWO.replace("test-name-2", "test-name-1"))
    done = cli("deploy", "-n", "test-name-1")
    assert done.code == 1 and "test-name-1" in done.out + done.err
    assert get_backend().read_deployments() == []
