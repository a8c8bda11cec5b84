"""The worker's loop services: each step on its own thread, waiting its interval between steps,
backing off after failures (said, with the wait), saying when it works again, and ending (told)
on a store fault. The loop runs in the test's thread against a stop event that records the
waits asked of it and answers "stop" after a given number: no clock is involved."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from flowplan.errors import StoreFault
from flowplan.runtime import services
from flowplan.runtime.services import Service, backoff
from tests.integration.workers import wait_for


class Waits(threading.Event):
    """A stop event whose `wait` records its timeout and says "stopped" from the `after`-th."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after
        self.asked: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.asked.append(timeout)
        return len(self.asked) >= self.after


def steps(*outcomes: Exception | None) -> tuple[Callable[[], object], list[int]]:
    """A step that raises (or not) as told, one outcome a call, and the list of its calls."""
    calls: list[int] = []

    def step() -> object:
        calls.append(len(calls))
        outcome = outcomes[len(calls) - 1]
        if outcome is not None:
            raise outcome
        return "ignored"

    return step, calls


def test_backoff_doubles_from_half_a_second_or_the_interval_up_to_a_minute() -> None:
    assert [backoff(n, 10.0) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert [backoff(n, 0.25) for n in (1, 2, 3)] == [0.25, 0.5, 1.0]  # the interval is shorter
    assert backoff(7, 10.0) == 32.0
    assert backoff(8, 10.0) == 60.0  # 64 s, at most a minute
    assert backoff(200, 10.0) == 60.0
    assert isinstance(backoff(1, 1), float)  # an int interval still gives seconds as a float
    assert (services.BACKOFF_FIRST, services.BACKOFF_MAX) == (0.5, 60.0)


def test_steps_come_first_at_once_then_every_interval() -> None:
    step, calls = steps(None, None, None)
    said: list[str] = []
    stop = Waits(after=4)
    service = Service("heartbeat", 2.5, step, said.append, stop)
    service._loop()
    assert stop.asked == [0.0, 2.5, 2.5, 2.5]  # the first step without waiting
    assert calls == [0, 1, 2]
    assert (service.passes, service.failures, said) == (3, 0, [])


def test_a_failing_step_is_said_retried_with_backoff_and_its_recovery_said() -> None:
    step, calls = steps(RuntimeError("boom"), ValueError("bad row"), None, KeyError("k"), None)
    said: list[str] = []
    stop = Waits(after=6)
    service = Service("claims", 10.0, step, said.append, stop)
    service._loop()
    assert calls == [0, 1, 2, 3, 4]
    # 0 (first), 0.5 after one failure, 1 after two, the interval after a pass, 0.5 again (the
    # count started over), the interval
    assert stop.asked == [0.0, 0.5, 1.0, 10.0, 0.5, 10.0]
    assert said == [
        "Worker service 'claims' failed (RuntimeError: boom); retrying in 0.5 s.",
        "Worker service 'claims' failed (ValueError: bad row); retrying in 1 s.",
        "Worker service 'claims' works again.",
        "Worker service 'claims' failed (KeyError: 'k'); retrying in 0.5 s.",
        "Worker service 'claims' works again.",
    ]
    assert (service.passes, service.failures) == (2, 0)


def test_failures_are_counted_while_they_last() -> None:
    step, _ = steps(RuntimeError("one"), RuntimeError("two"), RuntimeError("three"))
    said: list[str] = []
    stop = Waits(after=4)
    service = Service("scheduler", 60.0, step, said.append, stop)
    service._loop()
    assert (service.failures, service.passes) == (3, 0)
    assert stop.asked == [0.0, 0.5, 1.0, 2.0]
    assert said[-1] == "Worker service 'scheduler' failed (RuntimeError: three); retrying in 2 s."


def test_a_store_fault_ends_the_service_and_is_told() -> None:
    fault = StoreFault("the disk is full")
    step, calls = steps(None, fault, None)
    said: list[str] = []
    told: list[StoreFault] = []
    stop = Waits(after=10)
    service = Service("claims", 1.0, step, said.append, stop, on_store_fault=told.append)
    service._loop()  # returns: no retry helps a store fault
    assert told == [fault] and calls == [0, 1]
    assert stop.asked == [0.0, 1.0]  # not waited on again
    assert said == [] and service.failures == 0


def test_a_store_fault_nobody_is_told_of_ends_the_service_by_raising() -> None:
    fault = StoreFault("read-only")
    step, calls = steps(fault, None)
    said: list[str] = []
    service = Service("late", 1.0, step, said.append, Waits(after=10))
    with pytest.raises(StoreFault) as raised:
        service._loop()
    assert raised.value is fault and calls == [0] and said == []


def test_a_stop_set_before_the_start_runs_no_step() -> None:
    step, calls = steps(None)
    stop = threading.Event()
    stop.set()
    service = Service("heartbeat", 1.0, step, print, stop)
    assert service.start() is service
    service.thread.join(30)
    assert not service.thread.is_alive() and calls == []


def test_the_service_runs_on_a_named_daemon_thread_until_stopped() -> None:
    stop = threading.Event()
    ran = threading.Event()
    seen: list[tuple[str, bool]] = []

    def step() -> None:
        thread = threading.current_thread()
        seen.append((thread.name, thread.daemon))
        ran.set()

    service = Service("heartbeat", 3600.0, step, print, stop).start()
    try:
        assert ran.wait(30)
        assert seen == [("flowplan-heartbeat", True)]
        assert service.thread.is_alive()  # waiting out its interval
    finally:
        stop.set()
        service.thread.join(30)
    assert not service.thread.is_alive() and service.passes == 1


def test_a_resting_service_waits_for_a_kick_instead_of_its_interval() -> None:
    """The cancellations watch of a worker with no run: it steps again when a claim kicks it."""
    calls: list[int] = []
    service: Service

    def step() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            service.kick()  # a run was claimed meanwhile

    answers = [True, False]  # resting after the first step, not after the second
    stop = Waits(after=2)
    service = Service("cancellations", 0.05, step, [].append, stop, rests=lambda: answers.pop(0))
    service._loop()
    assert calls == [0, 1]
    assert stop.asked == [0.0, 0.05]  # no interval waited while resting


def test_a_resting_service_ends_when_kicked_after_the_worker_stops() -> None:
    calls: list[int] = []
    stop = threading.Event()
    service = Service("cancellations", 0.05, lambda: calls.append(1), [].append, stop,
                      rests=lambda: True).start()  # fmt: skip
    wait_for("the first step", lambda: calls)
    stop.set()
    service.kick()
    service.thread.join(10)
    assert not service.thread.is_alive()
    assert calls == [1]  # stopped: no step after the kick
