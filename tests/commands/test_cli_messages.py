"""The messages a newcomer meets first: typos, usage errors, help texts, schedules the
libraries refuse, and plan outside a project."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flowplan.backends.prefect.http import Api
from flowplan.errors import FlowplanError
from tests.conftest import Result

Cli = Callable[..., Result]
FLOWPLAN = str(Path(sys.executable).with_name("flowplan"))


def test_an_unknown_command_is_suggested_once_with_the_usage_of_its_group(cli: Cli) -> None:
    top = cli("plna")
    assert top.code == 1
    assert top.err.splitlines() == [
        "Error: No such command 'plna'. Did you mean 'plan'?",
        "Usage: flowplan [OPTIONS] COMMAND [ARGS]...",
        "Run 'flowplan --help' for help.",
    ]
    nested = cli("deployment", "schedule", "lss")
    assert nested.err.splitlines() == [
        "Error: No such command 'lss'. Did you mean 'ls'?",
        "Usage: flowplan deployment schedule [OPTIONS] COMMAND [ARGS]...",
        "Run 'flowplan deployment schedule --help' for help.",
    ]


def test_a_usage_error_of_a_subcommand_shows_its_usage_line(cli: Cli) -> None:
    result = cli("deployment", "run")
    assert result.code == 1
    assert result.err.splitlines() == [
        "Error: Missing argument 'NAME'.",
        "Usage: flowplan deployment run [OPTIONS] NAME",
        "Run 'flowplan deployment run --help' for help.",
    ]


def test_help_says_what_deploy_and_all_do(cli: Cli) -> None:
    deploy = " ".join(cli("deploy", "-h").out.split())
    assert "without questions" not in deploy
    assert "a wizard asks for them" in deploy and "--no-prompt: never ask" in deploy
    assert "(without it: the one -n or the entrypoint names, or the file's only deployment)" in (
        deploy
    )
    for command in ("plan", "apply"):
        text = " ".join(cli(command, "-h").out.split())
        assert "--all Every deployment in the file (the same as giving no -n)." in text
        assert "the default for plan" not in text


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--rrule", "bad", "invalid rrule: 'bad' is not NAME=VALUE (e.g. FREQ=DAILY;BYHOUR=9)"),
        ("--rrule", "FREQ=DAILY;BYHOUR", "invalid rrule: 'BYHOUR' is not NAME=VALUE"),
        ("--cron", "30 7 * * mon-fry", "day of week has no name 'fry': use sun, mon, tue, wed,"
         " thu, fri, sat or 0-7"),
        ("--cron", "0 0 * jab *", "month has no name 'jab'"),
        ("--cron", "x * * * *", "not valid cron syntax: minute hour day-of-month month"
         " day-of-week"),
    ],
)  # fmt: skip
def test_a_bad_schedule_is_explained_in_flowplans_words(
    cli: Cli, project: Callable[..., Path], option: str, value: str, message: str
) -> None:
    project({"flows/etl.py": "from prefect import flow\n\n@flow\ndef etl():\n    pass\n"})
    result = cli("deploy", "flows/etl.py:etl", "-n", "d", "-p", "p", "--pool-type", "process",
                 option, value)  # fmt: skip
    assert result.code == 1
    assert message in result.err
    for raw in ("unpack", "is not acceptable", f"[{value}]", "Traceback"):
        assert raw not in result.err
    # validate says the same of the same schedule in a file
    key = option.removeprefix("--")
    (Path("prefect.yaml")).write_text(
        f"deployments:\n- name: d\n  entrypoint: flows/etl.py:etl\n  schedules:\n"
        f"  - {key}: '{value}'\n"
    )
    assert message in cli("validate").out


def test_plan_outside_a_project_points_at_init(cli: Cli, project: Callable[..., Path]) -> None:
    project({})
    for command in ("plan", "apply"):
        result = cli(command)
        assert result.code == 1
        assert result.err.splitlines()[-1] == (
            "Error: no project file: prefect.yaml does not exist in this directory (create one"
            " with 'flowplan init', or name another with --prefect-file PATH)"
        )
        assert "has errors" not in result.err
    other = cli("plan", "--prefect-file", "deploy/prod.yaml")
    assert "no project file: deploy/prod.yaml does not exist (" in other.err


@pytest.mark.parametrize(
    ("url", "problem"),
    [("not-a-url", "must start with http:// or https://"), ("http://", "has no host"),
     ("http://127.0.0.1:port/api", "is not a URL (its port must be a number)")],
)  # fmt: skip
def test_a_bad_api_url_is_refused_before_any_call(cli: Cli, url: str, problem: str) -> None:
    result = cli("--api-url", url, "deployment", "ls")
    assert result.code == 1
    assert result.err.splitlines() == [
        f"Error: the Prefect API URL {url!r} {problem} (check --api-url, FLOWPLAN_API_URL or"
        " PREFECT_API_URL; e.g. http://127.0.0.1:4200/api)"
    ]


def test_api_url_holds_for_its_command_line_only(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process commands (tests, the Python API) keep the environment they had: a worker
    started later must not find a Prefect API it was never given."""
    assert cli("--api-url", "not-a-url", "deployment", "ls").code == 1
    assert "FLOWPLAN_API_URL" not in os.environ
    monkeypatch.setenv("FLOWPLAN_API_URL", "http://127.0.0.1:9/api")
    cli("--api-url", "not-a-url", "deployment", "ls")
    assert os.environ["FLOWPLAN_API_URL"] == "http://127.0.0.1:9/api"


@pytest.fixture
def hangs_up() -> Iterator[str]:
    """A server on 127.0.0.1 that accepts every connection and closes it without answering."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                return
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/api"
    stop.set()
    socket.create_connection(server.getsockname()).close()  # wakes accept() to see `stop`
    thread.join()
    server.close()


def test_a_read_that_gets_no_answer_says_the_server_could_not_be_reached(hangs_up: str) -> None:
    api = Api(hangs_up, retries=2, sleep=lambda seconds: None)
    with pytest.raises(FlowplanError) as read:
        api.post("/deployments/filter", {}, idempotent=True)
    assert f"the Prefect API at {hangs_up} could not be reached for POST" in read.value.message
    assert "may or may not" not in str(read.value)
    with pytest.raises(FlowplanError) as write:
        api.post("/deployments/", {"name": "x"})
    assert "the call may or may not have been applied" in write.value.message
    api.close()


def _complete(words: str, env: dict[str, str]) -> list[str]:
    """What bash's completion function gets from the real process for the line `words`."""
    done = subprocess.run([FLOWPLAN], capture_output=True, text=True, check=True, env={
        **env, "_FLOWPLAN_COMPLETE": "complete_bash", "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - 1)})  # fmt: skip
    return done.stdout.split()


def test_shell_completion_through_typer(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "SHELL": "/bin/bash"}
    assert _complete("flowplan depl", env) == ["deploy", "deployment"]
    assert _complete("flowplan deployment r", env) == ["resume", "run"]
    assert _complete("flowplan flow-run ret", env) == ["retry"]
    # typer finds the shell to install for from the process's parents, as from a user's
    # terminal: run it from bash (CI runs the suite from sh, which typer does not support;
    # a second command keeps bash from replacing itself with the first)
    installed = subprocess.run(["bash", "-c", f"'{FLOWPLAN}' --install-completion; exit $?"],
                               capture_output=True, text=True, env=env)  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    script = tmp_path / ".bash_completions" / "flowplan.sh"
    assert "_FLOWPLAN_COMPLETE=complete_bash" in script.read_text()
    assert f"source '{script}'" in (tmp_path / ".bashrc").read_text()
