"""Waiting for a run (`run_deployment`, `deployment run --watch`, `flow-run logs --follow`): a
change to the store ends the wait without waiting for the poll interval, whether the backend
can tell of its changes (the local store's watch) or the waiter has to look (every tick); a
watch is given back when the wait ends."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.domain.objects import FlowRun, LogLine, StateType
from flowplan.sdk import runs
from flowplan.sdk.runs import FlowRunTimeout, wait_for_run
from tests.runtime.helpers import deployment, store

BOUND = 30.0  # a wait that the change should end far sooner fails the test after this


class Unwatched:
    """The store, with no way to wait for its changes (as a Prefect server)."""

    def __init__(self, backend: LocalBackend) -> None:
        self._backend = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def watch_changes(self) -> None:
        return None


class Counted:
    """The store, counting the watches it gave and the ones given back."""

    def __init__(self, backend: LocalBackend) -> None:
        self._backend = backend
        self.opened = self.closed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def watch_changes(self) -> Any:
        watch = self._backend.watch_changes()
        assert watch is not None
        self.opened += 1
        close = watch.close

        def closing() -> None:
            self.closed += 1
            close()

        watch.close = closing  # type: ignore[method-assign]
        return watch


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path)
    return backend


def finished_meanwhile(backend: LocalBackend, run: FlowRun) -> threading.Thread:
    """Another connection runs `run` to COMPLETED (as its worker would) once the wait began."""

    def finish() -> None:
        other = LocalBackend(backend.store.path)
        other.set_flow_run_state(run.id, StateType.RUNNING)
        other.write_logs(
            [LogLine(flow_run_id=run.id, level=20, message="done", timestamp=run.created)]
        )
        other.set_flow_run_state(run.id, StateType.COMPLETED)

    return threading.Thread(target=finish)


@pytest.mark.parametrize("wrap", [Counted, Unwatched], ids=["watched", "looked at every tick"])
def test_a_change_ends_the_wait_long_before_the_poll_interval(
    backend: LocalBackend, wrap: Any
) -> None:
    run = backend.create_flow_run("f/d")
    client = wrap(backend)
    heard: list[tuple[str, list[str]]] = []
    finisher = finished_meanwhile(backend, run)
    finisher.start()
    done = wait_for_run(
        client, run.id, timeout=BOUND, poll_interval=3600,
        on_change=lambda r, lines: heard.append((r.state.name, [x.message for x in lines])),
    )  # fmt: skip
    finisher.join(BOUND)
    assert done.state.type is StateType.COMPLETED
    assert heard[-1][0] == "Completed"
    assert [m for _, lines in heard for m in lines] == ["done"]
    if isinstance(client, Counted):
        assert (client.opened, client.closed) == (1, 1)


def test_a_wait_that_runs_out_gives_its_watch_back_and_says_the_state(
    backend: LocalBackend,
) -> None:
    run = backend.create_flow_run("f/d")
    client = Counted(backend)
    with pytest.raises(FlowRunTimeout, match=r"did not finish within 0\.2 s \(it is Scheduled\)"):
        wait_for_run(client, run.id, timeout=0.2, poll_interval=3600)  # type: ignore[arg-type]
    assert (client.opened, client.closed) == (1, 1)


class Asked:
    """A watch that records the timeouts asked of it and says "changed"."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    def wait(self, timeout: float) -> bool:
        self.asked.append(timeout)
        return True


def test_a_pause_waits_for_a_change_till_the_next_look_but_not_within_a_tick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    clock = [100.0]
    monkeypatch.setattr(runs.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(runs.time, "sleep", slept.append)
    watch = Asked()
    runs._pause(watch, until=105.0, looked=99.99)  # type: ignore[arg-type]
    assert watch.asked == [5.0]
    assert slept == [pytest.approx(0.04)]  # the rest of the tick since the last look
    runs._pause(watch, until=99.0, looked=90.0)  # type: ignore[arg-type]
    assert watch.asked == [5.0, 0.0] and slept[-1] == 0.0
    runs._pause(None, until=105.0, looked=99.99)
    assert slept[-1] == runs.TICK == 0.05
