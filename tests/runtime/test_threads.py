"""The threads a worker keeps for its runs: reused while they wait, named for their task,
ended when idle, not stopped by a task that raises."""

from __future__ import annotations

import threading

import pytest

from flowplan.runtime.threads import Threads
from tests.integration.workers import wait_for


def _where(seen: list[tuple[int, str]]) -> None:
    thread = threading.current_thread()
    seen.append((thread.ident or 0, thread.name))


def test_a_waiting_thread_takes_the_next_task_under_its_name() -> None:
    threads = Threads()
    seen: list[tuple[int, str]] = []
    first = threads.start("flowplan-one", lambda: _where(seen))
    assert first.join(30)
    wait_for("the thread to wait for work", lambda: threads._waiting)
    assert threads.start("flowplan-two", lambda: _where(seen)).join(30)
    assert [name for _, name in seen] == ["flowplan-one", "flowplan-two"]
    assert seen[0][0] == seen[1][0] != threading.get_ident()  # one thread, not this one


def test_tasks_at_once_get_threads_of_their_own() -> None:
    threads = Threads()
    release = threading.Event()
    seen: list[tuple[int, str]] = []

    def blocked() -> None:
        _where(seen)
        release.wait(30)

    tasks = [threads.start(f"flowplan-{i}", blocked) for i in range(3)]
    wait_for("the three tasks to run", lambda: len(seen) == 3)
    assert not tasks[0].join(0)  # still running
    assert len({ident for ident, _ in seen}) == 3
    release.set()
    assert all(task.join(30) for task in tasks)


def test_a_task_that_raises_is_said_and_its_thread_goes_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    threads = Threads()
    seen: list[tuple[int, str]] = []

    def fails() -> None:
        _where(seen)
        raise RuntimeError("a task's own failure")

    assert threads.start("flowplan-fails", fails).join(30)
    assert "RuntimeError: a task's own failure" in capsys.readouterr().err
    wait_for("the thread to wait for work", lambda: threads._waiting)
    assert threads.start("flowplan-next", lambda: _where(seen)).join(30)
    assert seen[0][0] == seen[1][0]


def test_an_idle_thread_ends_and_a_new_one_is_started_after() -> None:
    threads = Threads(idle_seconds=0.05)
    seen: list[tuple[int, str]] = []
    ran: list[threading.Thread] = []
    assert threads.start("flowplan-first", lambda: ran.append(threading.current_thread())).join(30)
    first = ran[0]
    first.join(30)  # it ended by itself
    assert not first.is_alive() and threads._waiting == []
    assert threads.start("flowplan-later", lambda: _where(seen)).join(30)
    assert seen[0][1] == "flowplan-later"


def test_threads_started_from_the_main_thread_never_hold_up_the_process_exit() -> None:
    threads = Threads()
    seen: list[bool] = []
    assert threading.current_thread() is threading.main_thread()
    assert threads.start(
        "flowplan-daemon", lambda: seen.append(threading.current_thread().daemon)
    ).join(30)
    assert seen == [True]


class _HeldOnSecondTake:
    """The threads' lock, held back when the serving thread takes it the second time (after
    its idle wait ended) until the test lets it go on: the moment when `start` may hand that
    thread a task just as it was about to end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.arrived = threading.Event()
        self.proceed = threading.Event()
        self._takes = 0
        self.server: int | None = None

    def __enter__(self) -> None:
        if threading.get_ident() == self.server:
            self._takes += 1
            if self._takes == 2:
                self.arrived.set()
                assert self.proceed.wait(30)
        self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def test_a_task_handed_over_just_as_the_idle_wait_ended_runs_on_that_thread() -> None:
    threads = Threads(idle_seconds=0.0)  # its wait for more work ends at once
    lock = _HeldOnSecondTake()
    threads._lock = lock  # type: ignore[assignment]
    seen: list[tuple[int, str]] = []

    def first() -> None:
        lock.server = threading.get_ident()
        _where(seen)

    assert threads.start("flowplan-first", first).join(30)
    assert lock.arrived.wait(30)  # its wait ended: it is about to see whether it was taken
    second = threads.start("flowplan-second", lambda: _where(seen))  # it is taken
    assert threads._waiting == []
    lock.proceed.set()
    assert second.join(30)
    assert [name for _, name in seen] == ["flowplan-first", "flowplan-second"]
    assert seen[0][0] == seen[1][0]  # the same thread: no new one was started
