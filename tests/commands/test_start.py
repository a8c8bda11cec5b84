"""Start-up stays lean: `flowplan flow-run ls` as a user runs it (a subprocess) does not import
modules it has no use for, and the tables drawn without rich are the ones rich draws."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowplan import console
from flowplan.backends import get_backend
from flowplan.backends.local import LocalBackend
from flowplan.domain.objects import StateType
from flowplan.domain.specs import DeploymentSpec
from tests.conftest import Result

Cli = Callable[..., Result]

FLOWPLAN = str(Path(sys.executable).with_name("flowplan"))

# Modules `flow-run ls` used to import and does not need: rich (the table is drawn by
# console.table), the run watcher's logging, the job-template validator, event templates,
# deployment specs' checks, the crash log's helpers, and hashing (OpenSSL).
NOT_IMPORTED = {
    "rich",
    "rich.console",
    "logging",
    "flowplan.commands.run_watch",
    "flowplan.schema_validator",
    "flowplan.templating",
    "flowplan.domain.job_templates",
    "flowplan.domain.event_template",
    "flowplan.domain.specs",
    "tempfile",
    "secrets",
    "hashlib",
}


def imported(
    argv: list[str], env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run a command the way a user does, with the names of the modules it imported."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", FLOWPLAN, *argv],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return done, modules


def test_flow_run_ls_in_a_process_imports_only_what_it_needs(cli: Cli) -> None:
    assert cli("work-pool", "create", "pool", "--type", "process").code == 0
    backend = get_backend()
    assert isinstance(backend, LocalBackend)
    backend.upsert_deployments([DeploymentSpec("etl", "nightly", work_pool_name="pool")])
    run = backend.create_flow_run("etl/nightly", name="humble-heron")
    backend.set_flow_run_state(run.id, StateType.RUNNING)
    backend.store.close()
    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"}

    done, modules = imported(["flow-run", "ls"], env)

    assert done.returncode == 0, done.stderr
    assert f"│ {run.id} │ etl  │ humble-heron │ Running │" in done.stdout
    assert "typer" in modules and "flowplan.backends.local.runs" in modules  # it did parse
    assert sorted(NOT_IMPORTED & modules) == []
    # what rich draws for the same listing
    when = backend.read_flow_run(run.id).expected_start_time.strftime("%Y-%m-%d %H:%M:%S %Z")
    row = [run.id, "etl", "humble-heron", "Running", when]
    by_rich = drawn("Flow Runs", ["ID", "Flow", "Name", "State", "When"], [row], tty=False)[1]
    assert done.stdout == by_rich


class Terminal(io.StringIO):
    """Captured output that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def drawn(title: str | None, columns: list[str], rows: list[list[str]], tty: bool) -> tuple[
    str | None, str
]:  # fmt: skip
    """The table as drawn without rich (None when it is left to rich), and as rich draws it."""
    saved = sys.stdout
    sys.stdout = Terminal() if tty else io.StringIO()
    try:
        plain = console._plain_table(title, columns, rows)
        console._rich_table(title, columns, rows)
        return plain, sys.stdout.getvalue()
    finally:
        sys.stdout = saved


PLAIN = st.text(alphabet="abZ09-_/. ", max_size=14).map(str.strip)
ODD = st.text(alphabet="ab :1[]/é\t\n", max_size=8)  # markup, emoji codes, wide characters
SAMPLES = st.sampled_from(
    ["2026-12-04 17:44:42 UTC", "x:100:y", "a:smile:b", ":1234:", "a:12-emoji:b", "1:2 :3:", " x"]
)
Table = tuple[str | None, list[str], list[list[str]]]


@st.composite
def tables(draw: st.DrawFn) -> Table:
    """Half of them of plain text only (the tables drawn without rich), half of anything."""
    text = draw(st.sampled_from([PLAIN, st.one_of(PLAIN, SAMPLES, ODD)]))
    columns = draw(st.lists(text, min_size=1, max_size=4))
    rows = draw(st.lists(st.lists(text, min_size=len(columns), max_size=len(columns)), max_size=4))
    return draw(st.none() | text), columns, rows


ENVIRONMENTS = st.fixed_dictionaries(
    {},
    optional={
        "COLUMNS": st.sampled_from(["", "200", "30", "12", "wide"]),
        "FORCE_COLOR": st.sampled_from(["", "1"]),
        "TTY_COMPATIBLE": st.sampled_from(["0", "1", "2"]),
        "TERM": st.sampled_from(["xterm-256color", "dumb"]),
        "NO_COLOR": st.just("1"),
    },
)


@settings(max_examples=500, deadline=None)
@given(table=tables(), environment=ENVIRONMENTS, tty=st.booleans())
def test_a_table_drawn_without_rich_is_the_one_rich_draws(
    table: Table, environment: dict[str, str], tty: bool
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        for name in ("COLUMNS", "FORCE_COLOR", "TTY_COMPATIBLE", "TERM", "NO_COLOR"):
            patch.delenv(name, raising=False)
        for name, value in environment.items():
            patch.setenv(name, value)
        plain, rich = drawn(*table, tty=tty)
        if plain is not None:
            assert plain == rich


@pytest.mark.parametrize(
    ("columns", "tty"), [("", False), ("200", False), ("85", False), ("200", True), ("85", True)]
)
def test_a_plain_listing_is_drawn_without_rich_at_any_width_it_fits(
    columns: str, tty: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.delenv("NO_COLOR")  # colours or not, only bold and italic are used
    monkeypatch.setenv("TERM", "xterm")
    listing = (
        "Flow Runs",
        ["ID", "Flow", "State", "When"],
        [["6b5c1f5e-7a0e-4f7e-9a44-0c2d4d0f5a11", "etl", "Completed", "2026-12-04 17:44:42 UTC"]],
    )
    plain, rich = drawn(*listing, tty=tty)
    assert plain is not None
    assert plain == rich
    assert ("\x1b[1mID" in plain) is tty  # a terminal shows the header bold
    monkeypatch.setenv("COLUMNS", str(len(plain.splitlines()[1]) - 1))  # rich folds cells then
    assert drawn(*listing, tty=tty)[0] is None


@pytest.mark.parametrize("value", ["[/]", "[bold]b:smile:"])
def test_a_value_that_looks_like_markup_is_listed_as_it_is(cli: Cli, value: str) -> None:
    """Rich markup and emoji codes are not interpreted (`[/]` used to crash the listing)."""
    assert cli("variable", "set", "v", value).code == 0
    result = cli("variable", "ls")
    assert result.code == 0, result.err
    assert f'│ v    │ "{value}" │' in result.out
    # and when rich draws the table (a wide character)
    plain, rich = drawn(None, ["Name", "Value"], [["v", f"é{value}"]], tty=True)
    assert plain is None
    assert f"│ v    │ é{value}" in rich
