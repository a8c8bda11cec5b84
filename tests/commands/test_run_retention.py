"""`flowplan flow-run delete --older-than`: which runs go (finished ones that ended before
then, with their states and logs), which stay (newer ones, and scheduled, pending and running
ones whatever their age), and the durations it refuses."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from flowplan.backends import get_backend
from flowplan.backends.local import LocalBackend, retention
from flowplan.domain.clock import iso, utcnow
from flowplan.domain.objects import LogLine, StateType
from flowplan.domain.specs import DeploymentSpec
from tests.conftest import Result

Cli = Callable[..., Result]


def aged(backend: LocalBackend, state: StateType, days: float, name: str) -> str:
    """A run moved to `state`, its times (created, start, end) set `days` back."""
    run = backend.create_flow_run("etl/nightly", name=name)
    if state is not StateType.SCHEDULED:
        backend.set_flow_run_state(run.id, StateType.RUNNING)
    if state is not StateType.RUNNING:
        backend.set_flow_run_state(run.id, state, force=True)
    backend.write_logs([LogLine(run.id, utcnow(), 20, f"a line of {name}")] * 3)
    stamp = iso(utcnow() - timedelta(days=days))
    backend.store.connection.execute(
        "UPDATE flow_runs SET created = ?, expected_start_time = ?,"
        " start_time = CASE WHEN start_time IS NULL THEN NULL ELSE ? END,"
        " end_time = CASE WHEN end_time IS NULL THEN NULL ELSE ? END WHERE id = ?",
        (stamp, stamp, stamp, stamp, run.id),
    )  # backdated straight in the store: nothing else makes a run 40 days old
    return run.id


@pytest.fixture
def runs(cli: Cli) -> dict[str, str]:
    assert cli("work-pool", "create", "my-pool", "--type", "process").code == 0
    backend = get_backend()
    assert isinstance(backend, LocalBackend)
    backend.upsert_deployments([DeploymentSpec("etl", "nightly", work_pool_name="my-pool")])
    made = {
        name: aged(backend, state, days, name)
        for name, state, days in [
            ("old-completed", StateType.COMPLETED, 40),
            ("old-failed", StateType.FAILED, 31),
            ("old-cancelled", StateType.CANCELLED, 365),
            ("old-crashed", StateType.CRASHED, 45),
            ("new-completed", StateType.COMPLETED, 29),
            ("old-scheduled", StateType.SCHEDULED, 60),
            ("old-running", StateType.RUNNING, 60),
        ]
    }
    # failed long ago, then retried: scheduled again, its end time from the failure stays
    retried = aged(backend, StateType.FAILED, 50, "old-retried")
    backend.set_flow_run_state(retried, StateType.SCHEDULED, name="AwaitingRetry", force=True)
    made["old-retried"] = retried
    return made


def stored(table: str, column: str) -> set[str]:
    backend = get_backend()
    assert isinstance(backend, LocalBackend)
    rows = backend.store.connection.execute(f"SELECT DISTINCT {column} FROM {table}").fetchall()
    return {row[0] for row in rows}


def test_only_finished_runs_that_ended_before_then_go_with_their_states_and_logs(
    cli: Cli, runs: dict[str, str]
) -> None:
    result = cli("flow-run", "delete", "--older-than", "30d", "--yes")
    assert result.code == 0, result.err
    assert result.out == (
        "Deleted 4 finished flow run(s) that ended more than 30d ago, with their logs.\n"
    )
    gone = {runs[name] for name in ("old-completed", "old-failed", "old-cancelled", "old-crashed")}
    kept = set(runs.values()) - gone
    assert {run.id for run in get_backend().read_flow_runs()} == kept
    assert stored("logs", "flow_run_id") == kept
    assert stored("flow_run_states", "flow_run_id") == kept
    again = cli("flow-run", "delete", "--older-than", "30d", "--yes")
    assert again.out == "No finished flow run ended more than 30d ago: nothing to delete.\n"


def test_dry_run_counts_and_deletes_nothing(cli: Cli, runs: dict[str, str]) -> None:
    result = cli("flow-run", "delete", "--older-than", "1w", "--dry-run")
    assert (result.code, result.out) == (
        0,
        "Would delete 5 finished flow run(s) that ended more than 1w ago, with their logs.\n",
    )
    assert {run.id for run in get_backend().read_flow_runs()} == set(runs.values())


def test_without_a_terminal_it_asks_for_yes_and_deletes_nothing(
    cli: Cli, runs: dict[str, str]
) -> None:
    result = cli("flow-run", "delete", "--older-than", "30d")
    assert result.code == 1
    assert "Delete 4 finished flow run(s) that ended more than 30d ago" in result.err
    assert "--yes" in result.err
    assert len(get_backend().read_flow_runs()) == len(runs)


@pytest.mark.parametrize("duration", ["30", "d", "1.5d", "30 days", "-1d", "3x", "0h"])
def test_a_bad_duration_is_refused_naming_the_option(
    cli: Cli, runs: dict[str, str], duration: str
) -> None:
    result = cli("flow-run", "delete", "--older-than", duration, "--yes")
    assert result.code == 1
    assert result.err.startswith(f"Error: --older-than: {duration!r} ")
    assert len(get_backend().read_flow_runs()) == len(runs)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give a flow run's id or name, or --older-than DURATION (not both)"),
        (("some-run", "--older-than", "1d"), "(not both)"),
        (("some-run", "--dry-run"), "--dry-run goes with --older-than"),
    ],
)
def test_a_run_or_an_age_not_both(cli: Cli, args: tuple[str, ...], message: str) -> None:
    result = cli("flow-run", "delete", *args)
    assert result.code == 1
    assert message in result.err


def test_deletes_in_batches_until_none_is_left(runs: dict[str, str]) -> None:
    backend = get_backend()
    assert isinstance(backend, LocalBackend)
    before = utcnow() - timedelta(days=1)
    assert backend.delete_finished_runs(ended_before=before, limit=3, batch=2) == 3
    assert backend.delete_finished_runs(ended_before=before, batch=2) == 2
    assert backend.delete_finished_runs(ended_before=before, batch=2) == 0
    names = {runs[n] for n in ("old-scheduled", "old-running", "old-retried")}
    assert {run.id for run in backend.read_flow_runs()} == names


def test_deleting_keeps_the_store_safe_from_a_power_cut(
    runs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every transaction of a delete is written as the store's other writes are (synchronous
    NORMAL = 1: with OFF, a power cut during a checkpoint could corrupt the whole store)."""
    backend = get_backend()
    assert isinstance(backend, LocalBackend)
    seen: list[int] = []

    class Clock:
        monotonic = staticmethod(time.monotonic)

        @staticmethod
        def sleep(seconds: float) -> None:  # between two transactions
            seen.append(backend.store.connection.execute("PRAGMA synchronous").fetchone()[0])

    monkeypatch.setattr(retention, "time", Clock)
    assert backend.delete_finished_runs(ended_before=utcnow(), batch=2) == 5
    assert seen == [1, 1]  # after the first two transactions (of 2, 2 and 1 runs)
    assert backend.store.connection.execute("PRAGMA synchronous").fetchone()[0] == 1
    assert backend.delete_finished_runs(ended_before=utcnow(), dry_run=True) == 0


def _steps(backend: LocalBackend, ended_before: datetime) -> int:
    """How much work SQLite did for a delete (virtual machine steps, counted by thousands)."""
    counted = [0]

    def count() -> int:
        counted[0] += 1
        return 0

    backend.store.connection.set_progress_handler(count, 1000)
    try:
        backend.delete_finished_runs(ended_before=ended_before)
    finally:
        backend.store.connection.set_progress_handler(None, 0)
    return counted[0]


def test_finding_that_no_run_is_old_enough_reads_none_of_the_newer_ones(
    runs: dict[str, str],
) -> None:
    """Each transaction of a delete ends by finding that no old run is left: that must not
    read every finished run (with a million runs, 0.4-1.5 s holding the write lock)."""
    backend = get_backend()
    assert isinstance(backend, LocalBackend)
    long_ago = utcnow() - timedelta(days=3650)
    few = _steps(backend, long_ago)
    for number in range(300):
        aged(backend, StateType.COMPLETED, 1, f"recent-{number}")
    assert _steps(backend, long_ago) == few
    assert len(backend.read_flow_runs(states=[StateType.COMPLETED])) == 302
