"""The parts of `prefect_compat` that need no Prefect: futures that are already resolved, async
tasks run to their end, futures passed on as arguments. (`_map` and `patch_prefect` import
Prefect: test_prefect_compat_prefect.py runs them with the real Prefect.)"""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from flowplan.runtime.prefect_compat import (
    LOGGER_NAME,
    ResolvedFuture,
    ResolvedFutureList,
    _call,
    _finish,
    _resolve,
    _run_logger,
    _submit,
)


def test_a_resolved_future_gives_its_value_and_is_done() -> None:
    calls: list[str] = []
    future = ResolvedFuture(lambda: calls.append("called") or 42)
    assert calls == ["called"]  # called when made, once
    assert future.result() == 42 and future.result(timeout=1.0) == 42
    assert future.done() is True
    assert future.wait() is None
    assert calls == ["called"]


def test_a_resolved_future_raises_what_its_call_raised_unless_told_not_to() -> None:
    error = ValueError("no")

    def fails() -> None:
        raise error

    future = ResolvedFuture(fails)
    with pytest.raises(ValueError) as raised:
        future.result()
    assert raised.value is error
    assert future.result(raise_on_failure=False) is error
    assert future.done() is True


def test_a_future_that_returned_none_is_not_taken_for_a_failure() -> None:
    assert ResolvedFuture(lambda: None).result(raise_on_failure=False) is None


def test_a_list_of_futures_gives_their_values_in_order() -> None:
    good, bad = ResolvedFuture(lambda: 1), ResolvedFuture(lambda: 1 / 0)
    futures = ResolvedFutureList([good, ResolvedFuture(lambda: 2)])
    assert futures.result() == [1, 2]
    assert futures.wait() is None
    mixed = ResolvedFutureList([good, bad])
    with pytest.raises(ZeroDivisionError):
        mixed.result()
    [one, error] = mixed.result(raise_on_failure=False)
    assert one == 1 and isinstance(error, ZeroDivisionError)


async def _double(n: int) -> int:
    await asyncio.sleep(0)
    return 2 * n


async def _fails() -> None:
    await asyncio.sleep(0)
    raise KeyError("async")


def test_an_async_task_is_run_to_its_end_without_an_event_loop() -> None:
    assert _finish(_double(4)) == 8
    assert _finish("plain") == "plain"  # not a coroutine: as it is
    with pytest.raises(KeyError):
        _finish(_fails())


def test_an_async_task_called_inside_an_event_loop_is_run_in_a_thread() -> None:
    async def main() -> tuple[Any, BaseException | None]:
        value = _finish(_double(5))
        try:
            _finish(_fails())
        except KeyError as exc:
            return value, exc
        return value, None

    value, error = asyncio.run(main())
    assert value == 10
    assert isinstance(error, KeyError) and error.args == ("async",)


def test_an_async_task_returning_none_inside_an_event_loop_gives_none() -> None:
    async def nothing() -> None:
        await asyncio.sleep(0)

    async def main() -> Any:
        return _finish(nothing())

    assert asyncio.run(main()) is None


def test_futures_passed_to_a_task_are_given_as_their_values() -> None:
    future = ResolvedFuture(lambda: 3)
    assert _resolve(future) == 3
    assert _resolve("as it is") == "as it is"
    task = SimpleNamespace(fn=lambda a, b=0, *, c=0: (a, b, c))
    assert _call(task, future, ResolvedFuture(lambda: 4), c=future) == (3, 4, 3)


def test_submit_calls_now_and_ignores_wait_for() -> None:
    seen: list[tuple[Any, ...]] = []
    task = SimpleNamespace(fn=lambda a, b: seen.append((a, b)) or a + b)
    first = _submit(task, 1, b=ResolvedFuture(lambda: 2))
    assert seen == [(1, 2)] and first.result() == 3
    second = _submit(task, first, 10, wait_for=[first])
    assert second.result() == 13 and seen[-1] == (3, 10)


def test_the_run_logger_is_the_flow_runs_standard_logger() -> None:
    logger = _run_logger(object(), extra=1)
    assert logger is logging.getLogger(LOGGER_NAME)
