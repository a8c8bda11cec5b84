"""The step runner with real subprocesses: outputs, templating, errors, secrets."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from flowplan.errors import StepExecutionError
from flowplan.steps.runner import StepContext, run_steps

SECRETS = {"db-password": "hunter2-hunter2", "script": "echo 'I am a secret!'"}


def context(**overrides: Any) -> StepContext:
    values: dict[str, Any] = {
        "variable": {"region": "eu", "sizes": [1, 2]}.get,
        "secret": lambda name: SECRETS[name],
        "env": {"TEST_ENV_VAR": "from-env", "PATH": "/usr/bin:/bin"},
    }
    values.update(overrides)
    return StepContext(**values)


SHELL = "prefect.deployments.steps.run_shell_script"


def test_shell_outputs_and_namespace() -> None:
    outputs = run_steps(
        [
            {SHELL: {"id": "why_not_to_panic", "script": 'echo "Don\'t Panic: this is a test"'}},
            {SHELL: {"script": 'echo "{{ why_not_to_panic.stdout }}"'}},
        ],
        context(),
    )
    assert outputs["why_not_to_panic"] == {"stdout": "Don't Panic: this is a test", "stderr": ""}
    assert outputs["stdout"] == "Don't Panic: this is a test"


def test_env_variables_and_secrets_reach_the_step() -> None:
    outputs = run_steps(
        [{SHELL: {"script": "echo {{ $TEST_ENV_VAR }} {{ prefect.variables.region }}"}},
         {SHELL: {"id": "s", "script": "{{ prefect.blocks.secret.script }}"}}],
        context(),
    )  # fmt: skip
    assert outputs["s"]["stdout"] == "I am a secret!"


def test_no_shell_means_no_interpretation_of_templated_values(tmp_path: Path) -> None:
    hostile = "x; touch " + str(tmp_path / "pwned") + " $(id) | cat"
    outputs = run_steps([{SHELL: {"script": "echo {{ $EVIL }}", "id": "e"}}],
                        context(env={"EVIL": hostile, "PATH": "/usr/bin:/bin"}))  # fmt: skip
    assert outputs["e"]["stdout"] == hostile
    assert not (tmp_path / "pwned").exists()


def test_env_expansion_only_when_asked() -> None:
    literal = run_steps([{SHELL: {"script": "echo $TEST_ENV_VAR", "env": {"TEST_ENV_VAR": "v"}}}],
                        context())  # fmt: skip
    assert literal["stdout"] == "$TEST_ENV_VAR"
    expanded = run_steps([{SHELL: {"script": "echo $TEST_ENV_VAR", "env": {"TEST_ENV_VAR": "v"},
                                   "expand_env_vars": True}}], context())  # fmt: skip
    assert expanded["stdout"] == "v"
    shell = run_steps([{SHELL: {"script": "echo a | tr a b", "shell": True}}], context())
    assert shell["stdout"] == "b"


def test_a_failing_line_names_the_command_exit_code_and_stderr() -> None:
    with pytest.raises(StepExecutionError) as caught:
        run_steps([{SHELL: {"script": "echo ok\nls /definitely/not/here"}}], context())
    message = str(caught.value)
    assert message.startswith(f"step '{SHELL}' failed: run_shell_script failed: "
                              "'ls /definitely/not/here' exited with code 2: ls: cannot access")  # fmt: skip


def test_secrets_are_masked_in_errors() -> None:
    with pytest.raises(StepExecutionError) as caught:
        run_steps([{SHELL: {"script": "ls /nothing/{{ prefect.blocks.secret.db-password }}"}}],
                  context())  # fmt: skip
    assert "hunter2" not in str(caught.value)
    assert "/nothing/********" in str(caught.value)


def test_no_part_of_a_secret_is_left_where_an_error_cuts_the_output(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = f"cut-{uuid.uuid4().hex}"
    monkeypatch.setitem(SECRETS, "long", secret)
    code = "import sys; sys.stderr.write(sys.argv[1] + 'x' * 1995); sys.exit(1)"
    with pytest.raises(StepExecutionError) as caught:  # the error keeps the last 2000 characters
        run_steps([{SHELL: {"script": f"{sys.executable} -c \"{code}\""
                            " {{ prefect.blocks.secret.long }}"}}], context())  # fmt: skip
    assert secret[-5:] not in str(caught.value)
    assert str(caught.value).endswith("***" + "x" * 1995)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({SHELL: {"script": "x"}, "other": {}}, "step 1 has unexpected additional keys: other"),
        ({"prefect.deployments.steps.run_shel_script": {"script": "x"}},
         "did you mean 'prefect.deployments.steps.run_shell_script'"),
        ({SHELL: {"script": "echo {{ later.stdout }}"}},
         "{{ later.stdout }} is not an output of an earlier step"),
        ({"prefect_aws.deployments.steps.push_to_s3": {"bucket": "b"}},
         "(cloud storage) is not supported"),
        ({"my_steps_pkg_missing.steps.go": {"requires": "my-steps-pkg-missing>=1"}},
         "requires my-steps-pkg-missing>=1, which is not installed (install it, or pass "
         "--install-requirements"),
        ({SHELL: {"script": "x", "unknown_argument": 1}}, "TypeError"),
        ({"prefect.deployments.steps.run_shell_script": {"script": "{{ prefect.blocks.json.x }}"}},
         "'json' blocks are not available"),
    ],
)  # fmt: skip
def test_step_errors(step: dict[str, Any], message: str) -> None:
    with pytest.raises(StepExecutionError) as caught:
        run_steps([step], context())
    assert message in str(caught.value)


def test_user_defined_steps_are_imported_when_they_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = f"mysteps_{uuid.uuid4().hex}"  # a new name: the test may run twice in a process
    (tmp_path / f"{module}.py").write_text(
        "def greet(name):\n    return {'greeting': f'hi {name}'}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert module not in sys.modules
    outputs = run_steps([{f"{module}.greet": {"name": "{{ prefect.variables.region }}"}}],
                        context())  # fmt: skip
    assert outputs == {"greeting": "hi eu"}


def test_set_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    outputs = run_steps([{"prefect.deployments.steps.set_working_directory": {"directory": "sub"}}],
                        context())  # fmt: skip
    assert outputs == {"directory": str(tmp_path / "sub")}
    assert Path.cwd() == tmp_path / "sub"


def test_arguments_named_like_secrets_are_masked_for_user_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "leaky.py").write_text(
        "def call(api_token):\n    raise RuntimeError(f'rejected token {api_token}')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(StepExecutionError) as caught:
        run_steps([{"leaky.call": {"api_token": "{{ $API_TOKEN }}"}}],
                  context(env={"API_TOKEN": "tok-very-secret"}))  # fmt: skip
    assert "tok-very-secret" not in str(caught.value)
    assert "rejected token ********" in str(caught.value)


def test_pip_install_requirements_reports_pip_errors(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("./no-such-local-package\n")
    with pytest.raises(StepExecutionError) as caught:
        run_steps([{"prefect.deployments.steps.pip_install_requirements": {
            "directory": str(tmp_path), "stream_output": False}}], context(env=os.environ))  # fmt: skip
    assert "pip_install_requirements failed (exit code 1)" in str(caught.value)
    assert "no-such-local-package" in str(caught.value)


def _wheel(directory: Path) -> Path:
    """A tiny real wheel of `flowplan-test-steps` (installable offline with --find-links)."""
    import base64
    import hashlib
    import zipfile

    files = {
        "flowplan_test_steps/__init__.py": "def hello(name):\n    return {'greeting': 'hi ' + name}\n",
        "flowplan_test_steps-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: flowplan-test-steps\nVersion: 1.0\n",
        "flowplan_test_steps-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    record.append("flowplan_test_steps-1.0.dist-info/RECORD,,")
    files["flowplan_test_steps-1.0.dist-info/RECORD"] = "\n".join(record) + "\n"
    path = directory / "flowplan_test_steps-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def test_install_requirements_installs_what_requires_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    _wheel(tmp_path)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    step = {"flowplan_test_steps.hello": {"requires": "flowplan-test-steps>=1.0", "name": "x"}}
    try:
        with pytest.raises(StepExecutionError, match="--install-requirements"):
            run_steps([step], context())
        outputs = run_steps([step], context(install_requirements=True))
        assert outputs == {"greeting": "hi x"}
    finally:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", "flowplan-test-steps"],
                       capture_output=True, check=False)  # fmt: skip
        sys.modules.pop("flowplan_test_steps", None)


def test_a_field_of_a_json_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """PREFECT-COMPAT section 10, item 74: `{{ prefect.blocks.<type>.<name>.<field> }}`."""
    monkeypatch.setitem(SECRETS, "creds", '{"user": "svc-etl", "auth": {"password": "pa55-word"}}')
    outputs = run_steps([
        {SHELL: {"id": "a", "script": "echo {{ prefect.blocks.secret.creds.user }}"}},
        {SHELL: {"id": "b", "script": "echo {{ prefect.blocks.secret.creds.auth.password }}"}},
    ], context())  # fmt: skip
    assert (outputs["a"]["stdout"], outputs["b"]["stdout"]) == ("svc-etl", "pa55-word")
    with pytest.raises(StepExecutionError) as caught:
        run_steps([{SHELL: {"script": "echo {{ prefect.blocks.secret.creds.auth.token }}"}}],
                  context())  # fmt: skip
    assert "secret 'creds' has no field 'token' in auth (fields: password)" in str(caught.value)
    assert "pa55-word" not in str(caught.value)
    with pytest.raises(StepExecutionError, match="secret 'db-password' is not JSON"):
        run_steps([{SHELL: {"script": "echo {{ prefect.blocks.secret.db-password.x }}"}}],
                  context())  # fmt: skip


def test_a_bug_in_flowplan_is_not_turned_into_a_step_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import flowplan.steps.runner as runner

    def broken(*args: object) -> object:
        raise KeyError("a bug")

    monkeypatch.setattr(runner, "render_inputs", broken)
    with pytest.raises(KeyError, match="a bug"):
        run_steps([{SHELL: {"script": "echo"}}], context())
