"""What `flowplan plan` prints: what the project sets, at the terminal's width, coloured on a
terminal, with a hint for deployments left behind and drift for schedules added by hand."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from flowplan import console
from tests.conftest import Result

Cli = Callable[..., Result]

FLOW = "from prefect import flow\n\n@flow\ndef etl(n: int = 1):\n    print(n)\n"
PROJECT = """
name: team
work_pools:
  - name: pool1
    type: process
deployments:
  - name: nightly
    entrypoint: flows/etl.py:etl
    tags: [a]
    parameters: {n: 2}
    schedules:
      - cron: "30 7 * * mon-fri"
        timezone: America/Argentina/Buenos_Aires
    work_pool: {name: pool1}
"""


@pytest.fixture
def proj(project: Callable[..., Path]) -> Path:
    return project({"flows/etl.py": FLOW, "prefect.yaml": PROJECT})


def _deployment_lines(out: str) -> list[str]:
    lines = out.splitlines()
    start = lines.index("  + deployment 'etl/nightly'")
    return lines[start : lines.index("", start)]


def test_a_new_deployment_shows_what_the_project_sets_at_the_terminal_width(
    cli: Cli, proj: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    result = cli("plan")
    assert result.code == 0, result.err
    assert _deployment_lines(result.out) == [
        "  + deployment 'etl/nightly'",
        '      + entrypoint: "flows/etl.py:etl"',
        '      + tags: ["a"]',
        '      + parameters: {"n": 2}',
        '      + work_pool_name: "pool1"',
        '      + schedules[cron-2d7bef6ce1]: {"cron": "30 7 * * mon-fri", "day_or": true,'
        ' "timezone": "America/Argentina/Buenos_Aires"}',
        "      (not shown: 9 fields at their defaults; --output json shows every field)",
    ]
    # the JSON plan keeps every field, flowplan's own labels too
    [_, change] = json.loads(cli("plan", "-o", "json").out)["changes"]
    names = [field["name"] for field in change["fields"]]
    assert {"path", "version", "triggers", "pull_steps", "work_queue_name"} <= set(names)
    labels = next(f["after"] for f in change["fields"] if f["name"] == "labels")
    assert labels["flowplan.dev/project"] == "team"


def test_a_narrow_terminal_shows_a_long_value_key_by_key_not_cut(
    cli: Cli, proj: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    lines = _deployment_lines(cli("plan").out)
    start = lines.index("      + schedules[cron-2d7bef6ce1]:")
    assert lines[start + 1 : start + 4] == [
        '          + cron: "30 7 * * mon-fri"',
        "          + day_or: true",
        '          + timezone: "America/Argentina/Buenos_Aires"',
    ]
    assert all(len(line) <= 80 for line in lines)


def test_signs_are_coloured_on_a_terminal_unless_no_color(
    cli: Cli, proj: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")  # what a terminal gets (capsys is not one)
    coloured = cli("plan").out
    assert "  \x1b[32m+\x1b[0m deployment 'etl/nightly'" in coloured
    assert '      \x1b[32m+\x1b[0m tags: ["a"]' in coloured
    cli("apply", "--auto-approve")
    (proj / "prefect.yaml").write_text(PROJECT.replace("tags: [a]", "tags: [b]"))
    assert '\x1b[33m~\x1b[0m tags: ["a"] -> ["b"]' in cli("plan").out
    monkeypatch.setenv("NO_COLOR", "1")
    plain = cli("plan").out
    assert "\x1b[" not in plain and '      ~ tags: ["a"] -> ["b"]' in plain


def test_a_deployment_dropped_from_the_file_is_named_with_a_prune_hint(
    cli: Cli, proj: Path
) -> None:
    two = (
        PROJECT
        + "  - name: hourly\n    entrypoint: flows/etl.py:etl\n    work_pool: {name: pool1}\n"
    )
    (proj / "prefect.yaml").write_text(two)
    assert cli("apply", "--auto-approve").code == 0
    (proj / "prefect.yaml").write_text(PROJECT)
    result = cli("plan")
    assert result.out.startswith("No changes.")
    assert (
        "warning: 'etl/hourly' is no longer in prefect.yaml but still on the target (made by"
        " this project): --prune deletes it"
    ) in result.err
    assert "no longer in" not in cli("plan", "-n", "nightly").err  # a selection says nothing
    assert "no longer in" not in cli("plan", "--prune").err  # the plan shows the deletion


def test_a_schedule_added_by_hand_is_drift(cli: Cli, proj: Path) -> None:
    assert cli("apply", "--auto-approve").code == 0
    made = cli("deployment", "schedule", "create", "etl/nightly", "--interval", "600")
    assert made.code == 0, made.err
    lines = cli("plan").out.splitlines()
    assert lines[0] == (
        "  ~ deployment 'etl/nightly'  (changed outside flowplan since the last apply)"
    )
    assert lines[1].startswith("      - schedules[")
    assert '"interval": 600' in lines[1]


def test_colour_and_width_follow_the_terminal_as_rich_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "xterm")
    assert console.styled("+", "ok", Tty()) == "\x1b[32m+\x1b[0m"
    assert console.styled("+", "ok", io.StringIO()) == "+"  # a pipe
    monkeypatch.setenv("TERM", "dumb")
    assert console.styled("+", "ok", Tty()) == "+"
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert console.styled("+", "ok", Tty()) == "+"  # NO_COLOR wins
    monkeypatch.delenv("COLUMNS")
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert console.width() == 200  # off a terminal nothing wraps: values are not folded
    monkeypatch.setenv("COLUMNS", "90")
    assert console.width() == 90
