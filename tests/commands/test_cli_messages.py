"""The messages a newcomer meets first: typos, usage errors, help texts, schedules the
libraries refuse, and plan outside a project."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result

Cli = Callable[..., Result]


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
