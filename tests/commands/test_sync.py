"""plan, apply, deploy and force-unlock in-process: messages, exit codes, files, locks."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from flowplan.backends import get_backend
from flowplan.backends.local.store import Store
from flowplan.plan.lock import LOCK
from tests.conftest import Result

Cli = Callable[..., Result]

FLOW = '''
from prefect import flow

@flow(name="hello")
def hello_flow(who: str = "world", times: int = 1):
    """Say hello."""
'''
PROJECT = """
name: demo
work_pools:
  - name: local
    type: process
deployments:
  - name: nightly
    entrypoint: flows/hello.py:hello_flow
    parameters: {who: team}
    work_pool: {name: local}
    schedules:
      - cron: "0 2 * * *"
        slug: nightly
  - name: hourly
    entrypoint: flows/hello.py:hello_flow
    work_pool: {name: local}
    tags: [a, b]
"""


@pytest.fixture
def proj(project: Callable[..., Path]) -> Path:
    return project({"flows/hello.py": FLOW, "prefect.yaml": PROJECT})


def test_plan_exit_codes_and_summary(cli: Cli, proj: Path) -> None:
    first = cli("plan", "--detailed-exitcode")
    assert first.code == 2
    assert first.out.splitlines()[-1] == "Plan: 3 to add, 0 to change, 0 to destroy."
    assert "  + deployment 'hello/nightly'" in first.out
    assert first.err.startswith("Target: local store ")
    assert cli("plan").code == 0
    assert get_backend().read_deployments() == []  # plan never writes
    applied = cli("apply", "--auto-approve")
    assert applied.code == 0
    assert applied.out.splitlines()[-1] == "Apply complete: 3 added, 0 changed, 0 destroyed."
    again = cli("plan", "--detailed-exitcode")
    assert again.code == 0
    assert again.out == (
        "No changes. The target matches the project.\n\n"
        "Plan: 0 to add, 0 to change, 0 to destroy.\n"
    )


def test_plan_selects_with_patterns_matching_the_real_flow_name(cli: Cli, proj: Path) -> None:
    for pattern in ("hello/nightly", "hello-flow/nightly", "hello_flow/nightly", "*/night*"):
        result = cli("plan", "-n", pattern)
        assert result.out.splitlines()[-1] == "Plan: 2 to add, 0 to change, 0 to destroy.", pattern
    missing = cli("plan", "-n", "weekly")
    assert missing.code == 1
    assert "no deployment in prefect.yaml matches: weekly (deployments: nightly, hourly)" in (
        missing.err
    )
    assert "--prune needs the whole project" in cli("plan", "-n", "nightly", "--prune").err


def test_update_shows_old_and_new_values(cli: Cli, proj: Path) -> None:
    cli("apply", "--auto-approve")
    text = (proj / "prefect.yaml").read_text().replace("who: team", "who: ops")
    (proj / "prefect.yaml").write_text(text)
    result = cli("plan")
    assert result.out.splitlines() == [
        "  ~ deployment 'hello/nightly'",
        '      ~ parameters: {"who": "team"} -> {"who": "ops"}',
        "",
        "Plan: 0 to add, 1 to change, 0 to destroy.",
    ]


def test_json_plan_follows_the_plan_schema(cli: Cli, proj: Path) -> None:
    import jsonschema

    schema = json.loads((Path(__file__).parents[2] / "schemas" / "plan.schema.json").read_text())
    data = json.loads(cli("plan", "--output", "json").out)
    jsonschema.validate(data, schema)
    assert data["summary"] == {"create": 3, "update": 0, "delete": 0, "noop": 0}


def test_apply_without_a_terminal_needs_auto_approve(cli: Cli, proj: Path) -> None:
    result = cli("apply")
    assert result.code == 1
    assert result.err.splitlines()[-1] == (
        "Error: apply needs confirmation and there is no terminal to ask on "
        "(pass --auto-approve (after reviewing 'flowplan plan'))"
    )
    assert get_backend().read_deployments() == []


def test_a_no_op_apply_makes_zero_writes(
    cli: Cli, proj: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("apply", "--auto-approve")
    writes: list[int] = []
    original = Store.write

    def counting(self: Store):  # type: ignore[no-untyped-def]
        writes.append(1)
        return original(self)

    monkeypatch.setattr(Store, "write", counting)
    result = cli("apply", "--auto-approve")
    assert result.code == 0 and "No changes." in result.out
    assert writes == []


def test_saved_plans(cli: Cli, proj: Path, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    assert cli("plan", "--out", str(saved)).code == 0
    assert cli("apply", str(saved), "--auto-approve").code == 0
    assert len(get_backend().read_deployments()) == 2
    # stale: the project file changed since planning
    (proj / "prefect.yaml").write_text(PROJECT.replace("who: team", "who: xx"))
    cli("plan", "--out", str(saved))
    (proj / "prefect.yaml").write_text(PROJECT.replace("who: team", "who: yy"))
    stale = cli("apply", str(saved), "--auto-approve")
    assert stale.code == 1 and "the saved plan is stale: prefect.yaml changed" in stale.err
    # stale: a planned object changed on the target
    (proj / "prefect.yaml").write_text(PROJECT.replace("who: team", "who: xx"))
    cli("plan", "--out", str(saved))
    cli("deployment", "pause", "hello/nightly")
    moved = cli("apply", str(saved), "--auto-approve")
    assert moved.code == 1 and "changed on the target since planning: hello/nightly" in moved.err


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda text: text[: len(text) // 2], "is damaged (truncated or not JSON"),
        (
            lambda text: text.replace('"who": "team"', '"who": "evil"'),
            "was changed after it was saved",
        ),
        (lambda text: text.replace('"format": 1', '"format": 9'), "made by a newer flowplan"),
        (lambda text: text.replace("local store", "remote store"), "was made for remote store"),
        (lambda text: "[]", "is not valid: (top level): expected a mapping"),
    ],
)
def test_damaged_plan_files_are_refused(
    cli: Cli, proj: Path, tmp_path: Path, damage: Callable[[str], str], message: str
) -> None:
    saved = tmp_path / "plan.json"
    cli("plan", "--out", str(saved))
    saved.write_text(damage(saved.read_text()))
    if "remote store" in saved.read_text():  # keep the checksum right: only the target differs
        from flowplan.plan.comparable import digest

        data = json.loads(saved.read_text())
        data["checksum"] = digest({k: v for k, v in data.items() if k != "checksum"})
        saved.write_text(json.dumps(data))
    result = cli("apply", str(saved), "--auto-approve")
    assert result.code == 1 and message in result.err, result.err
    assert get_backend().read_deployments() == []


def test_a_second_apply_waits_then_fails_clearly(cli: Cli, proj: Path) -> None:
    backend = get_backend()
    assert backend.acquire_lease(LOCK, "otherhost:1:abc", 60) is not None
    result = cli("apply", "--auto-approve", "--lock-timeout", "0.3")
    assert result.code == 1
    assert "another apply holds the lock on this target (otherhost:1:abc" in result.err
    assert "force-unlock" in result.err
    assert backend.read_deployments() == []
    unlocked = cli("force-unlock", "--yes")
    assert unlocked.out.endswith("Lock removed.\n")
    assert cli("apply", "--auto-approve").code == 0
    assert cli("force-unlock").out == "The target is not locked.\n"


def test_a_lock_left_by_a_dead_process_is_taken_over(cli: Cli, proj: Path) -> None:
    import socket
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    get_backend().acquire_lease(LOCK, f"{socket.gethostname()}:{dead.stdout.strip()}:x", 600)
    assert cli("apply", "--auto-approve", "--lock-timeout", "0").code == 0


def test_a_no_op_apply_releases_a_lock_whose_holder_is_gone(cli: Cli, proj: Path) -> None:
    """An apply killed after its last write leaves its lock; the next apply has nothing to do
    and releases it (a live holder's lock, or another host's, stays)."""
    import socket
    import subprocess
    import sys

    assert cli("apply", "--auto-approve").code == 0
    backend = get_backend()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    holder = f"{socket.gethostname()}:{dead.stdout.strip()}:x"
    backend.acquire_lease(LOCK, holder, 600)
    result = cli("apply", "--auto-approve")
    assert result.code == 0 and "No changes" in result.out
    assert result.err.endswith(
        f"\nReleased the apply lock left by {holder} (that process is gone).\n"
    )
    assert backend.read_lease(LOCK) is None
    backend.acquire_lease(LOCK, "otherhost:1:abc", 600)
    again = cli("apply", "--auto-approve")
    assert again.code == 0 and "Released" not in again.err
    lease = backend.read_lease(LOCK)
    assert lease is not None and lease.holder == "otherhost:1:abc"


def test_prune_removes_only_deployments_dropped_from_the_file(cli: Cli, proj: Path) -> None:
    cli("apply", "--auto-approve")
    assert cli("deploy", "./flows/hello.py:hello_flow", "-n", "adhoc", "-p", "local").code == 0
    (proj / "prefect.yaml").write_text(PROJECT[: PROJECT.index("  - name: hourly")])
    plan = cli("plan", "--prune")
    assert plan.out.splitlines()[-3:] == [
        "  - deployment 'hello/hourly'", "", "Plan: 0 to add, 0 to change, 1 to destroy.",
    ]  # fmt: skip
    assert cli("apply", "--prune", "--auto-approve").code == 0
    names = sorted(d.full_name for d in get_backend().read_deployments())
    assert names == ["hello/adhoc", "hello/nightly"]  # adhoc is not declared: not the project's


def test_deploy_an_entrypoint_without_a_project_file(
    cli: Cli, project: Callable[..., Path]
) -> None:
    project({"flows/hello.py": FLOW})
    get_backend().create_work_pool("local", "process")
    result = cli("deploy", "./flows/hello.py:hello_flow", "-n", "test-name", "-p", "local",
                 "--version", "1.0.0", "-jv", "name=prod", "-t", "foo-bar", "--cron", "0 4 * * *",
                 "--timezone", "Europe/Berlin", "--param", "times=2")  # fmt: skip
    assert result.code == 0, result.err
    assert "Deployed: 'hello/test-name'" in result.out
    assert "  $ flowplan worker start --pool 'local'" in result.out
    stored = get_backend().read_deployment("hello/test-name")
    assert (stored.version, stored.tags, stored.job_variables) == ("1.0.0", ("foo-bar",),
                                                                  {"name": "prod"})  # fmt: skip
    assert stored.parameters == {"times": 2}
    assert stored.entrypoint == "flows/hello.py:hello_flow"
    assert stored.schedules[0].schedule.to_json()["timezone"] == "Europe/Berlin"
    assert stored.enforce_parameter_schema is True
    again = cli("deploy", "./flows/hello.py:hello_flow", "-n", "test-name", "-p", "local",
                "--version", "1.0.0", "-jv", "name=prod", "-t", "foo-bar", "--cron", "0 4 * * *",
                "--timezone", "Europe/Berlin", "--param", "times=2")  # fmt: skip
    assert "No changes." in again.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("deploy", "--all", "--cron", "0 * * * *"),
            "command-line options apply to one deployment",
        ),
        (("deploy",), "has 2 deployments and no name was given"),
        (("deploy", "-n", "nope"), "no deployment matches: nope"),
        (("deploy", "-n", "nightly", "-p", "ghost"), "work pool 'ghost' does not exist"),
        (("deploy", "--all", "-n", "nightly"), "either --all or -n/--name"),
        (("deploy", "-n", "nightly", "-jv", "[1]"), 'could not parse job variable "[1]"'),
        (("deploy", "-n", "nightly", "--param", "a=1", "--params", "{}"), "--param or --params"),
    ],
)
def test_deploy_errors_say_what_to_do(
    cli: Cli, proj: Path, args: tuple[str, ...], message: str
) -> None:
    result = cli(*args)
    assert result.code == 1 and message in result.err, result.err


def test_deploy_without_anything(cli: Cli, project: Callable[..., Path]) -> None:
    project({"flows/hello.py": FLOW})
    result = cli("deploy")
    assert result.code == 1 and "an entrypoint must be provided" in result.err
    no_pool = cli("deploy", "./flows/hello.py:hello_flow", "-n", "x")
    assert no_pool.code == 1 and "has no work pool" in no_pool.err


def test_unnamed_deployment_is_an_error(cli: Cli, project: Callable[..., Path]) -> None:
    project(
        {
            "flows/hello.py": FLOW,
            "prefect.yaml": "deployments:\n  - entrypoint: flows/hello.py:hello_flow\n",
        }
    )
    result = cli("plan")
    assert result.code == 1
    assert "deployments[0]: deployment has no name" in result.out
    assert "prefect.yaml has errors; nothing was planned" in result.err


def test_templates_at_plan_time(
    cli: Cli, project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    project({"flows/hello.py": FLOW, "prefect.yaml": """
deployments:
  - name: d
    entrypoint: flows/hello.py:hello_flow
    version: "{{ $APP_VERSION }}"
    description: "region {{ prefect.variables.region }}"
    parameters: {who: "{{ prefect.blocks.secret.api-token }}"}
    work_pool:
      name: local
      job_variables: {name: "x-{{ ctx.flow_run.name }}"}
pull:
  - prefect.deployments.steps.git_clone:
      repository: https://example.com/r.git
      access_token: "{{ $GIT_TOKEN }}"
      branch: "{{ $BRANCH }}"
"""})  # fmt: skip
    get_backend().create_work_pool("local", "process")
    get_backend().set_variable("region", "eu")
    monkeypatch.setenv("APP_VERSION", "1.2.3")
    monkeypatch.setenv("GIT_TOKEN", "ghp_secret_value")
    monkeypatch.setenv("BRANCH", "main")
    result = cli("apply", "--auto-approve")
    assert result.code == 0, result.err
    assert "ghp_secret_value" not in result.out + result.err
    assert '"who": "(secret reference)"' in result.out
    stored = get_backend().read_deployment("hello/d")
    assert (stored.version, stored.description) == ("1.2.3", "region eu")
    assert stored.parameters == {"who": "{{ prefect.blocks.secret.api-token }}"}
    assert stored.job_variables == {"name": "x-{{ ctx.flow_run.name }}"}
    clone = stored.pull_steps[0]["prefect.deployments.steps.git_clone"]  # type: ignore[index]
    assert clone == {"repository": "https://example.com/r.git", "access_token": "{{ $GIT_TOKEN }}",
                     "branch": "main"}  # fmt: skip


def test_apply_continues_past_independent_failures(cli: Cli, project: Callable[..., Path]) -> None:
    project({"flows/hello.py": FLOW, "prefect.yaml": """
name: demo
work_pools:
  - {name: prefect-reserved, type: process}
  - {name: good, type: process}
deployments:
  - {name: a, entrypoint: flows/hello.py:hello_flow, work_pool: {name: prefect-reserved}}
  - {name: b, entrypoint: flows/hello.py:hello_flow, work_pool: {name: good}}
"""})  # fmt: skip
    result = cli("apply", "--auto-approve")
    assert result.code == 1
    assert (
        "+ work pool 'prefect-reserved': FAILED: work pool name 'prefect-reserved' is reserved"
        in (result.err)
    )
    assert "+ deployment 'hello/a': FAILED: skipped: work pool 'prefect-reserved' failed" in (
        result.err
    )
    assert "+ deployment 'hello/b': created" in result.out
    assert "Apply failed: 2 of 4 changes failed (2 added, 0 changed, 0 destroyed)." in result.err
    assert [d.full_name for d in get_backend().read_deployments()] == ["hello/b"]


def test_a_declared_template_file_is_checked_at_plan_time(
    cli: Cli, project: Callable[..., Path]
) -> None:
    project({"flows/hello.py": FLOW, "bad.json": '{"job_configuration": {"c": "{{ nope }}"}}',
             "prefect.yaml": "work_pools:\n  - {name: p, type: process, base_job_template: bad.json}\n"
                             "deployments: []\n"})  # fmt: skip
    result = cli("plan")
    assert result.code == 1
    assert "work_pools[0].base_job_template: bad.json is not valid: " in result.err


def test_secrets_are_masked_in_streamed_step_output_and_crash_logs(
    cli: Cli, project: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project({"flows/hello.py": FLOW, "prefect.yaml": """
build:
  - prefect.deployments.steps.run_shell_script:
      id: show
      script: "echo token={{ prefect.blocks.secret.api-token }}"
      stream_output: true
deployments:
  - name: d
    entrypoint: flows/hello.py:hello_flow
    work_pool: {name: local}
    description: "{{ show.stdout }}"
"""})  # fmt: skip
    get_backend().create_work_pool("local", "process")
    get_backend().set_secret("api-token", "tok-1234-very-secret")
    result = cli("apply", "--auto-approve")
    assert "token=********" in result.err  # the step's streamed output
    assert "tok-1234" not in result.out + result.err
    assert 'description: "token=********"' in result.out  # the plan shows it masked
    assert result.code == 1  # and refuses to store it
    assert "deployment 'hello/d': description holds the value of a secret" in result.err
    assert get_backend().read_deployments() == []

    import flowplan.commands

    def broken(args: object) -> object:
        get_backend().read_secret_value("api-token")
        raise RuntimeError("failed with tok-1234-very-secret inside")

    monkeypatch.setattr(flowplan.commands, "build_app", broken)
    crashed = cli("plan")
    assert crashed.code == 3 and "tok-1234" not in crashed.err
    (log,) = (tmp_path / ".flowplan-home" / "logs").iterdir()
    assert "failed with ******** inside" in log.read_text()


def test_entrypoints_resolve_from_where_flowplan_runs(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A documented workflow: `--prefect-file sub/prefect.yaml` from the repository's root,
    entrypoints written relative to that root, as Prefect resolves them."""
    repo = tmp_path / "repo"
    (repo / "etl" / "flows").mkdir(parents=True)
    (repo / "etl" / "flows" / "hello.py").write_text(FLOW)
    (repo / "etl" / "prefect.yaml").write_text(
        "name: etl\ndeployments:\n  - name: d\n    entrypoint: etl/flows/hello.py:hello_flow\n"
        "    work_pool: {name: local}\n"
    )
    get_backend().create_work_pool("local", "process")
    monkeypatch.chdir(repo)
    assert cli("validate", "--prefect-file", "etl/prefect.yaml").code == 0
    applied = cli("apply", "--prefect-file", "etl/prefect.yaml", "--auto-approve")
    assert applied.code == 0, applied.err
    stored = get_backend().read_deployment("hello/d")
    assert stored.entrypoint == "etl/flows/hello.py:hello_flow"
    pull = stored.pull_steps[0]["prefect.deployments.steps.set_working_directory"]  # type: ignore[index]
    assert pull == {"directory": str(repo)}
    # run from the sub-directory, the same file's entrypoints do not resolve: say where they do
    monkeypatch.chdir(repo / "etl")
    result = cli("validate")
    assert result.code == 1
    assert (
        "entrypoint file 'etl/flows/hello.py' does not exist (entrypoints are relative to the"
        f" directory flowplan runs in, {repo / 'etl'})"
    ) in result.out
    (repo / "etl" / "prefect.yaml").write_text(
        "deployments:\n  - name: d\n    entrypoint: flows/hello.py:hello_flow\n"
    )
    monkeypatch.chdir(repo)
    result = cli("validate", "--prefect-file", "etl/prefect.yaml")
    assert f"it exists relative to {repo / 'etl'}: run from there" in result.out


def test_flow_metadata_fills_the_deployment_as_prefect_does(
    cli: Cli, project: Callable[..., Path]
) -> None:
    import hashlib

    source = (
        "from lib.compat import flow\nPREFIX = 'etl'\n"
        "@flow(name=PREFIX + '-daily', description='Loads the day.', version='3.0')\n"
        "def a():\n    'ignored docstring'\n"
        "@flow\ndef b():\n    'The docstring.'\n"
    )
    project({"lib/__init__.py": "", "lib/compat.py": "from prefect import flow\n",
             "flows/f.py": source, "prefect.yaml": """
deployments:
  - {name: one, entrypoint: flows/f.py:a, work_pool: {name: local}}
  - {name: two, entrypoint: flows/f.py:b, work_pool: {name: local}}
"""})  # fmt: skip
    get_backend().create_work_pool("local", "process")
    assert cli("apply", "--auto-approve").code == 0
    one, two = (
        get_backend().read_deployment("etl-daily/one"),
        get_backend().read_deployment("b/two"),
    )
    assert (one.description, one.version) == ("Loads the day.", "3.0")
    assert (two.description, two.version) == (
        "The docstring.",
        hashlib.md5(source.encode()).hexdigest(),
    )
    assert cli("plan", "--detailed-exitcode").code == 0


def test_pull_steps_keep_what_resolves_only_at_run_time(
    cli: Cli, project: Callable[..., Path]
) -> None:
    project({"flows/hello.py": FLOW, "prefect.yaml": """
pull:
  - prefect.deployments.steps.git_clone:
      id: clone-step
      repository: https://github.com/org/repo.git
      branch: main
  - prefect.deployments.steps.pip_install_requirements:
      directory: "{{ clone-step.directory }}"
      requirements_file: requirements.txt
  - prefect.deployments.steps.set_working_directory:
      directory: "{{ clone-step.directory }}/sub"
deployments:
  - {name: d, entrypoint: flows/hello.py:hello_flow, work_pool: {name: local}}
"""})  # fmt: skip
    get_backend().create_work_pool("local", "process")
    planned = cli("plan", "-o", "json")
    assert planned.code == 0, planned.err
    assert "NOTSET" not in planned.out
    assert cli("apply", "--auto-approve").code == 0
    steps = get_backend().read_deployment("hello/d").pull_steps
    assert steps[1] == {
        "prefect.deployments.steps.pip_install_requirements": {  # type: ignore[index]
            "directory": "{{ clone-step.directory }}",
            "requirements_file": "requirements.txt",
        }
    }
    assert steps[2] == {
        "prefect.deployments.steps.set_working_directory": {  # type: ignore[index]
            "directory": "{{ clone-step.directory }}/sub"
        }
    }
    assert cli("plan", "--detailed-exitcode").code == 0


def test_a_top_level_pull_every_deployment_overrides_only_warns(
    cli: Cli, project: Callable[..., Path]
) -> None:
    project({"flows/hello.py": FLOW, "prefect.yaml": """
pull:
  - prefect.deployments.steps.run_shel_script: {script: echo}
deployments:
  - name: d
    entrypoint: flows/hello.py:hello_flow
    pull: [{prefect.deployments.steps.set_working_directory: {directory: /tmp}}]
"""})  # fmt: skip
    result = cli("validate")
    assert result.code == 0, result.out
    assert result.out.startswith(
        "warning: prefect.yaml:2:5: pull[0].prefect.deployments.steps.run_shel_script: unknown step function"
    )
    assert "the top-level pull never runs: every deployment has its own" in result.out
    assert cli("validate", "--strict").code == 1


def test_files_fresh_from_prefect_init_validate(cli: Cli, project: Callable[..., Path]) -> None:
    """What `prefect init --recipe docker-git` writes (Prefect 3.9.1), byte for byte."""
    project({"prefect.yaml": """---
name: demo
prefect-version: 3.9.1
build:
- prefect_docker.deployments.steps.build_docker_image:
    id: build_image
    requires: prefect-docker>=0.3.1
    image_name: org/img
    tag: latest
    dockerfile: auto
push:
- prefect_docker.deployments.steps.push_docker_image:
    requires: prefect-docker>=0.3.1
    image_name: '{{ build_image.image_name }}'
    tag: '{{ build_image.tag }}'
pull:
- prefect.deployments.steps.git_clone:
    repository: https://github.com/org/repo.git
    branch: main
    access_token: null
deployments:
- name: null
  version: null
  tags: []
  description: null
  schedule: {}
  flow_name: null
  entrypoint: null
  parameters: {}
  work_pool:
    name: null
    work_queue_name: null
    job_variables:
      image: '{{ build_image.image }}'
"""})  # fmt: skip
    result = cli("validate")
    assert (result.code, result.out.splitlines()) == (0, [
        "warning: prefect.yaml:22:3: deployments[0]: this is the placeholder deployment 'prefect"
        " init' writes (no name, no entrypoint); plan, apply and deploy refuse it until it is"
        " filled in (fill in name: and entrypoint: (path/to/file.py:flow_function), or remove it)",
        "Valid: 1 file, 1 warning.",
    ])  # fmt: skip
    planned = cli("plan")
    assert planned.code == 1 and "deployments[0] has no name" in planned.err


def test_a_deployment_made_from_flags_alone_is_not_pruned(
    cli: Cli, project: Callable[..., Path]
) -> None:
    project({"flows/hello.py": FLOW, "prefect.yaml": """
name: demo
deployments:
  - {name: declared, entrypoint: flows/hello.py:hello_flow, work_pool: {name: local}}
"""})  # fmt: skip
    get_backend().create_work_pool("local", "process")
    assert cli("apply", "--auto-approve").code == 0
    adhoc = cli("deploy", "flows/hello.py:hello_flow", "-n", "adhoc", "-p", "local")
    assert adhoc.code == 0, adhoc.err
    assert "'adhoc' is not declared in prefect.yaml: it is deployed but not owned" in adhoc.err
    labels = get_backend().read_deployment("hello/adhoc").labels
    assert labels.get("flowplan.dev/managed-by") == "flowplan"
    assert "flowplan.dev/project" not in labels
    pruned = cli("plan", "--prune", "--detailed-exitcode")
    assert pruned.code == 0, pruned.out  # nothing to delete: adhoc is not the project's
    again = cli("deploy", "-n", "declared")
    assert again.code == 0 and "not declared" not in again.err
    assert get_backend().read_deployment("hello/declared").labels["flowplan.dev/project"] == "demo"


def test_long_changed_values_show_the_keys_that_changed(
    cli: Cli, project: Callable[..., Path]
) -> None:
    params = {f"table_{i}": f"warehouse.schema_{i}.events" for i in range(6)}
    text = "{" + ", ".join(f"{k}: {v}" for k, v in params.items()) + "}"
    wide = "from prefect import flow\n\n@flow\ndef wide(**tables):\n    pass\n"
    root = project({"flows/wide.py": wide, "prefect.yaml": f"""
deployments:
  - name: d
    entrypoint: flows/wide.py:wide
    work_pool: {{name: local}}
    parameters: {text}
"""})  # fmt: skip
    get_backend().create_work_pool("local", "process")
    assert cli("apply", "--auto-approve").code == 0
    edited = (root / "prefect.yaml").read_text().replace("schema_3.events", "schema_3.sessions")
    edited = edited.replace("table_5: warehouse.schema_5.events", "table_6: new")
    (root / "prefect.yaml").write_text(edited)
    result = cli("plan")
    lines = result.out.splitlines()
    start = lines.index("      ~ parameters:")
    assert lines[start + 1 : start + 5] == [
        '          ~ table_3: "warehouse.schema_3.events" -> "warehouse.schema_3.sessions"',
        '          - table_5: "warehouse.schema_5.events"',
        '          + table_6: "new"',
        "",
    ]
    assert "characters)" not in result.out


def test_a_plan_predicts_the_clone_directory(cli: Cli, project: Callable[..., Path]) -> None:
    project({"flows/hello.py": FLOW, "prefect.yaml": """
build:
  - prefect.deployments.steps.git_clone:
      id: clone
      repository: https://example.com/org/repo.git
      branch: main
deployments:
  - name: d
    entrypoint: flows/hello.py:hello_flow
    work_pool: {name: local}
    description: "code in {{ clone.directory }}"
"""})  # fmt: skip
    get_backend().create_work_pool("local", "process")
    assert '+ description: "code in repo-main"' in cli("plan").out  # known without cloning


def test_plans_settle_after_a_build_and_a_no_op_apply_builds_nothing(
    cli: Cli, project: Callable[..., Path]
) -> None:
    root = project({"flows/hello.py": FLOW, "prefect.yaml": """
build:
  - prefect.deployments.steps.run_shell_script:
      id: stamp
      script: sh -c 'echo built >> builds.log; date +%s%N'
deployments:
  - name: d
    entrypoint: flows/hello.py:hello_flow
    work_pool: {name: local}
    version: "{{ stamp.stdout }}"
"""})  # fmt: skip
    get_backend().create_work_pool("local", "process")
    assert '+ version: "(known after build)"' in cli("plan").out
    assert cli("apply", "--auto-approve").code == 0
    assert (root / "builds.log").read_text() == "built\n"
    version = get_backend().read_deployment("hello/d").version
    assert version and version.isdigit()
    settled = cli("plan", "--detailed-exitcode")
    assert settled.code == 0, settled.out  # the build's value is kept: same build configuration
    again = cli("apply", "--auto-approve")
    assert again.code == 0 and "No changes" in again.out
    assert (root / "builds.log").read_text() == "built\n"  # nothing rebuilt
    # another build configuration: the value is unknown again, and apply builds
    (root / "prefect.yaml").write_text((root / "prefect.yaml").read_text().replace(
        "date +%s%N", "date +%s%N; true"))  # fmt: skip
    changed = cli("plan", "--detailed-exitcode")
    assert changed.code == 2 and '"(known after build)"' in changed.out
    assert cli("apply", "--auto-approve").code == 0
    assert (root / "builds.log").read_text() == "built\nbuilt\n"
    assert get_backend().read_deployment("hello/d").version != version


def test_triggers_are_validated_stored_and_compared(cli: Cli, project: Callable[..., Path]) -> None:
    flow = "from prefect import flow\n\n@flow\ndef on_event(resource: str):\n    pass\n"
    root = project({"flows/ev.py": flow, "prefect.yaml": """
deployments:
  - name: d
    entrypoint: flows/ev.py:on_event
    work_pool: {name: local}
    triggers:
      - enabled: true
        match: {prefect.resource.id: my.external.resource}
        expect: [external.resource.pinged]
        parameters: {resource: "{{ event.resource.id }}"}
"""})  # fmt: skip
    get_backend().create_work_pool("local", "process")
    validated = cli("validate")
    assert (validated.code, validated.out) == (0, "Valid: 1 file, 0 warnings.\n")  # supplied
    planned = cli("plan")
    assert "+ triggers: " in planned.out
    assert "warning" not in planned.err  # the local store's server acts on triggers
    assert cli("apply", "--auto-approve").code == 0
    stored = get_backend().read_deployment("on-event/d")
    assert stored.triggers == [{
        "enabled": True, "match": {"prefect.resource.id": "my.external.resource"},
        "expect": ["external.resource.pinged"],
        "parameters": {"resource": "{{ event.resource.id }}"},
    }]  # fmt: skip
    assert cli("plan", "--detailed-exitcode").code == 0
    (root / "prefect.yaml").write_text(
        (root / "prefect.yaml").read_text().replace("enabled: true", "enabled: false")
    )
    changed = cli("plan", "--detailed-exitcode")
    assert changed.code == 2 and "~ triggers:" in changed.out
    (root / "prefect.yaml").write_text(
        (root / "prefect.yaml").read_text().replace("expect:", "expects:")
    )
    typo = cli("validate")
    assert (
        "deployments[0].triggers[0].expects: unknown key 'expects' (did you mean 'expect'?)"
        in typo.out
    )


def test_compat_details_prefect_users_rely_on(
    cli: Cli, project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project({"flows/hello.py": FLOW, "prefect.yaml": """
deployments:
  - name: d
    entrypoint: flows/hello.py:hello_flow
    schedules: [{cron: "0 2 * * *", slug: nightly}]
"""})  # fmt: skip
    get_backend().create_work_pool("from-setting", "process")
    # Prefect's current name of the default-pool setting
    monkeypatch.setenv("PREFECT_DEPLOYMENTS_DEFAULT_WORK_POOL_NAME", "from-setting")
    assert cli("apply", "--auto-approve").code == 0
    assert get_backend().read_deployment("hello/d").work_pool_name == "from-setting"
    # `schedules: null` leaves the target's schedules alone, like an absent key
    (root / "prefect.yaml").write_text((root / "prefect.yaml").read_text().replace(
        '[{cron: "0 2 * * *", slug: nightly}]', "null"))  # fmt: skip
    assert cli("plan", "--detailed-exitcode").code == 0
    # a --prefect-file that does not exist is an error for deploy, as for plan
    missing = cli("deploy", "--prefect-file", "nope.yaml", "-n", "d")
    assert missing.code == 1 and "the project file nope.yaml does not exist" in missing.err
    # no worker hint for a pool a worker polls
    get_backend().worker_heartbeat("from-setting", "w1")
    (root / "prefect.yaml").write_text((root / "prefect.yaml").read_text() + "    version: '2'\n")
    deployed = cli("deploy", "-n", "d")
    assert deployed.code == 0 and "worker start" not in deployed.out
    assert "Trigger a run:\n  $ flowplan deployment run 'hello/d'" in deployed.out


def test_a_redeploy_without_enforce_parameter_schema_keeps_the_stored_flag(
    cli: Cli, project: Callable[..., Path]
) -> None:
    """PREFECT-COMPAT section 10, item 10."""
    root = project({"flows/hello.py": FLOW, "prefect.yaml": """
deployments:
  - name: d
    entrypoint: flows/hello.py:hello_flow
    work_pool: {name: local}
    enforce_parameter_schema: false
"""})  # fmt: skip
    get_backend().create_work_pool("local", "process")
    assert cli("apply", "--auto-approve").code == 0
    schema = get_backend().read_deployment("hello/d").parameter_openapi_schema
    (root / "prefect.yaml").write_text(
        (root / "prefect.yaml").read_text().replace("    enforce_parameter_schema: false\n", "")
    )
    assert cli("plan", "--detailed-exitcode").code == 0
    assert cli("deploy", "-n", "d").code == 0
    stored = get_backend().read_deployment("hello/d")
    assert stored.enforce_parameter_schema is False
    assert stored.parameter_openapi_schema == schema


def test_whole_placeholders_keep_their_type_and_project_steps_import(
    cli: Cli, project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PREFECT-COMPAT section 10, items 18 and 19 (19 is a departure: DESIGN.md section 9,
    `tags: "a,b"` becomes an error instead of a list of characters)."""
    project({
        "flows/hello.py": FLOW,
        "compat18_steps/__init__.py": "",
        "compat18_steps/outputs.py": (
            "def make():\n    return {'output1': 1, 'output2': ['b', 2, 3],"
            " 'output3': 'This one is actually a string'}\n"
        ),
        "prefect.yaml": """
build:
  - compat18_steps.outputs.make: {id: out}
deployments:
  - name: d
    entrypoint: flows/hello.py:hello_flow
    work_pool: {name: local}
    version: "{{ $INPUT }}"
    tags: "{{ out.output2 }}"
    description: "{{ out.output3 }}"
""",
    })  # fmt: skip
    get_backend().create_work_pool("local", "process")
    monkeypatch.setenv("INPUT", "foo")
    for module in ("compat18_steps", "compat18_steps.outputs"):  # imported here: let it go after
        monkeypatch.setitem(sys.modules, module, None)
        monkeypatch.delitem(sys.modules, module)
    assert cli("validate").code == 0
    applied = cli("apply", "--auto-approve")
    assert applied.code == 0, applied.err
    stored = get_backend().read_deployment("hello/d")
    assert (stored.version, stored.tags, stored.description) == (
        "foo", ("b", "2", "3"), "This one is actually a string")  # fmt: skip
    project({"prefect.yaml": """
deployments:
  - {name: d, entrypoint: flows/hello.py:hello_flow, work_pool: {name: local},
     tags: "{{ $MY_TAGS }}"}
"""})  # fmt: skip
    monkeypatch.setenv("MY_TAGS", "b,2,3")
    refused = cli("plan")
    assert refused.code == 1
    assert "tags became text ('b,2,3'), not a list (Prefect would split it" in refused.err


def test_concurrency_options_are_stored_whole(cli: Cli, project: Callable[..., Path]) -> None:
    project({"flows/hello.py": FLOW, "prefect.yaml": """
deployments:
  - name: d
    entrypoint: flows/hello.py:hello_flow
    work_pool: {name: local}
    concurrency_limit: {limit: 5, collision_strategy: CANCEL_NEW, grace_period_seconds: 120}
"""})  # fmt: skip
    get_backend().create_work_pool("local", "process")
    assert cli("apply", "--auto-approve").code == 0
    stored = get_backend().read_deployment("hello/d")
    assert stored.concurrency_limit == 5
    assert stored.concurrency_options == {"collision_strategy": "CANCEL_NEW",
                                          "grace_period_seconds": 120}  # fmt: skip
    assert cli("plan", "--detailed-exitcode").code == 0


def test_a_schedule_that_replaces_another_keeps_its_id_and_flag(
    cli: Cli, project: Callable[..., Path]
) -> None:
    """PREFECT-COMPAT section 10, item 41."""
    root = project({"flows/hello.py": FLOW, "prefect.yaml": """
deployments:
  - name: d
    entrypoint: flows/hello.py:hello_flow
    work_pool: {name: local}
    schedules:
      - {cron: "0 2 * * *", slug: original-slug}
"""})  # fmt: skip
    get_backend().create_work_pool("local", "process")
    assert cli("apply", "--auto-approve").code == 0
    deployment = get_backend().read_deployment("hello/d")
    (original,) = deployment.schedules
    get_backend().update_deployment_schedule(deployment.id, original.id, {"active": False})
    (root / "prefect.yaml").write_text((root / "prefect.yaml").read_text().replace(
        "slug: original-slug}", "slug: renamed-slug, replaces: original-slug}"))  # fmt: skip
    planned = cli("plan")
    assert '~ schedules[renamed-slug].slug: "original-slug" -> "renamed-slug"' in planned.out
    assert "- schedules" not in planned.out and "+ schedules" not in planned.out
    assert cli("apply", "--auto-approve").code == 0
    (renamed,) = get_backend().read_deployment("hello/d").schedules
    assert (renamed.id, renamed.slug, renamed.active) == (original.id, "renamed-slug", False)
    assert cli("plan", "--detailed-exitcode").code == 0


def test_deploy_selects_by_the_real_flow_name_as_plan_does(
    cli: Cli, project: Callable[..., Path]
) -> None:
    flow = "from prefect import flow\n\n@flow(name='An important name')\ndef my_flow():\n    pass\n"
    project({"flows/f.py": flow, "prefect.yaml": """
deployments:
  - {name: test-name-1, entrypoint: flows/f.py:my_flow, work_pool: {name: local}}
  - {name: test-name-2, entrypoint: flows/f.py:my_flow, work_pool: {name: local}}
"""})  # fmt: skip
    get_backend().create_work_pool("local", "process")
    by_real_name = cli("deploy", "-n", "An important name/test-name-1")
    assert by_real_name.code == 0, by_real_name.err
    by_function = cli("deploy", "-n", "my-flow/test-name-2")
    assert by_function.code == 0, by_function.err
    names = sorted(d.full_name for d in get_backend().read_deployments())
    assert names == ["An important name/test-name-1", "An important name/test-name-2"]


def test_errors_land_where_they_belong(
    cli: Cli, proj: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # answering no is a normal "nothing applied" (exit 1), not an interruption (130)
    import typer

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr(typer, "confirm", lambda *args, **kwargs: False)
    declined = cli("apply")
    assert declined.code == 1 and "not confirmed; nothing was applied" in declined.err
    assert get_backend().read_deployments() == []
    # a mapping variable inside text is the user's input problem, not a bug
    get_backend().set_variable("cfg", {"a": 1})
    (proj / "prefect.yaml").write_text((proj / "prefect.yaml").read_text().replace(
        "parameters: {who: team}", 'parameters: {who: "team {{ prefect.variables.cfg }}"}'))  # fmt: skip
    planned = cli("plan")
    assert planned.code == 1 and "cannot be used for inline string substitution" in planned.err
