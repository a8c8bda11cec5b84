"""Secrets in what apply and deploy print (a JSON secret's fields and its whole text, and
credentials in URLs, masked in build-step output and in step errors), and in the files
flowplan writes (saved plans and the store readable by their owner alone)."""

from __future__ import annotations

import json
import os
import stat
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from flowplan.backends import get_backend
from tests.conftest import Result

Cli = Callable[..., Result]
FLOW = "from prefect import flow\n\n@flow\ndef hello(who: str = 'x'):\n    pass\n"


def unique(prefix: str) -> str:
    """A value no earlier test registered (the register of secrets is process-wide)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def project_with(build: str) -> str:
    return (
        f"build:\n{build}"
        "deployments:\n  - name: d\n    entrypoint: flows/hello.py:hello\n"
        "    work_pool: {name: local}\n"
    )


def test_apply_masks_every_form_of_a_json_secret_in_build_output(
    cli: Cli, project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    user, password, token = unique("svc"), unique("pw"), unique("ghp")
    creds = {"user": user, "password": password}
    dump = f'{sys.executable} -c "import json,sys; print(json.dumps(json.loads(sys.argv[1])))"'
    project({"flows/hello.py": FLOW, "prefect.yaml": project_with(f"""\
  - prefect.deployments.steps.run_shell_script:
      script: |
        echo user={{{{ prefect.blocks.secret.creds.user }}}} pw={{{{ prefect.blocks.secret.creds.password }}}}
        {dump} '{{{{ prefect.blocks.secret.creds }}}}'
        echo cloning https://ci:{{{{ $GIT_TOKEN }}}}@git.example/x.git
      stream_output: true
""")})  # fmt: skip
    monkeypatch.setenv("GIT_TOKEN", token)
    get_backend().create_work_pool("local", "process")
    get_backend().set_secret("creds", json.dumps(creds, separators=(",", ":")))
    result = cli("apply", "--auto-approve")
    assert result.code == 0, result.err
    printed = result.out + result.err
    assert "user=******** pw=********" in printed  # the fields
    assert json.dumps({"user": "********", "password": "********"}) not in printed
    assert "\n********\n" in printed  # the whole document, as json.dumps renders it
    assert "cloning https://********@git.example/x.git" in printed  # a URL's credentials
    for value in (user, password, token):
        assert value not in printed


def test_step_errors_mask_the_fields_of_a_json_secret(
    cli: Cli, project: Callable[..., Path]
) -> None:
    password = unique("pw")
    project({"flows/hello.py": FLOW, "prefect.yaml": project_with("""\
  - prefect.deployments.steps.run_shell_script:
      script: ls /nothing/{{ prefect.blocks.secret.db.password }}
""")})  # fmt: skip
    get_backend().create_work_pool("local", "process")
    get_backend().set_secret("db", json.dumps({"password": password}))
    for command in (("apply", "--auto-approve"), ("deploy", "-n", "d")):
        result = cli(*command)
        assert result.code == 1
        assert "run_shell_script failed: 'ls /nothing/********' exited with code" in result.err
        assert password not in result.out + result.err


def test_saved_plans_and_the_store_are_readable_by_their_owner_alone(
    cli: Cli, project: Callable[..., Path], tmp_path: Path
) -> None:
    project({"flows/hello.py": FLOW, "prefect.yaml": project_with("")})
    get_backend().create_work_pool("local", "process")
    saved = tmp_path / "plan.json"
    saved.write_text("an older file")
    saved.chmod(0o644)
    previous = os.umask(0o022)
    try:
        assert cli("plan", "--out", str(saved)).code == 0
        assert cli("apply", str(saved), "--auto-approve").code == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert json.loads(saved.read_text())["summary"]["create"] >= 1
    written = [path for path in (tmp_path / ".flowplan-home").rglob("*") if path.is_file()]
    assert written and {stat.S_IMODE(path.stat().st_mode) & 0o077 for path in written} == {0}
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".plan")]  # no temp


def test_a_plan_file_that_cannot_be_written_is_an_error_and_keeps_the_old_one(
    cli: Cli, project: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project({"flows/hello.py": FLOW, "prefect.yaml": project_with("")})
    get_backend().create_work_pool("local", "process")
    missing = cli("plan", "--out", str(tmp_path / "nowhere" / "plan.json"))
    assert missing.code == 1
    assert f"cannot write the plan file {tmp_path / 'nowhere' / 'plan.json'}" in missing.err
    saved = tmp_path / "plan.json"
    saved.write_text("the old plan")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    failed = cli("plan", "--out", str(saved))
    assert failed.code == 1 and "No space left on device" in failed.err
    assert sorted(path.name for path in tmp_path.iterdir()) == [".flowplan-home", "plan.json",
                                                                "proj"]  # fmt: skip
    assert saved.read_text() == "the old plan"


def test_a_secret_a_build_step_outputs_is_never_stored(
    cli: Cli, project: Callable[..., Path]
) -> None:
    password = unique("pw")
    project({"flows/hello.py": FLOW, "prefect.yaml": project_with("""\
  - prefect.deployments.steps.run_shell_script:
      id: show
      script: echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-{{ prefect.blocks.secret.db.password }}-bbbbbbbbbbbbbbbbbbbb
""").replace("work_pool: {name: local}", "work_pool: {name: local}\n    parameters: {who: '{{ show.stdout }}'}")})  # fmt: skip
    get_backend().create_work_pool("local", "process")
    get_backend().set_secret("db", json.dumps({"password": password}))
    for command in (("apply", "--auto-approve"), ("deploy", "-n", "d")):
        result = cli(*command)
        assert result.code == 1
        assert "deployment 'hello/d': parameters holds the value of a secret" in result.err
        assert password[:6] not in result.out + result.err  # nor a part, in a folded value
        assert get_backend().read_deployments() == []
