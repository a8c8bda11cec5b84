"""Secrets in what apply and deploy print: a JSON secret's fields and its whole text, and
credentials in URLs, are masked in build-step output and in step errors."""

from __future__ import annotations

import json
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
