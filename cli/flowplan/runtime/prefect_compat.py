"""Prefect-decorated code inside flowplan's engine: flows and tasks run as plain calls.

Calling a Prefect `@task` (or a Prefect flow as a subflow) outside Prefect's own engine starts
that engine, which with no API configured boots a temporary Prefect server (seconds per call).
Here a task call calls its function; `.submit()` and `.map()` return futures that are already
resolved; `get_run_logger()` returns a standard logger whose records reach the run's logs.
What is lost: task-level retries, caching, timeouts, concurrency and task-run states (the flow
run's own retries and timeout still apply).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import io
import logging
import threading
from collections.abc import Callable
from typing import Any

LOGGER_NAME = "flow_run"
_patched = False


class ResolvedFuture:
    """What `.submit()` returns: the call already happened; `result()` gives its value (or
    raises its exception)."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        try:
            self._value = _finish(fn())
        except Exception as exc:
            self._error = exc

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> Any:
        if self._error is not None:
            if raise_on_failure:
                raise self._error
            return self._error
        return self._value

    def wait(self, timeout: float | None = None) -> None:
        return None

    def done(self) -> bool:
        return True


class ResolvedFutureList(list[ResolvedFuture]):
    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> list[Any]:
        return [future.result(timeout, raise_on_failure) for future in self]

    def wait(self, timeout: float | None = None) -> None:
        return None


def _finish(value: Any) -> Any:
    """A coroutine (an async task) is run to its end: in a new event loop, or in a thread when
    this thread already runs one."""
    if not inspect.iscoroutine(value):
        return value
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(value)
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = asyncio.run(value)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _resolve(value: Any) -> Any:
    """Arguments may be futures (passed on from `.submit()`); tasks get their values."""
    if isinstance(value, ResolvedFuture):
        return value.result()
    return value


def _call(self: Any, *args: Any, **kwargs: Any) -> Any:
    return self.fn(*[_resolve(a) for a in args], **{k: _resolve(v) for k, v in kwargs.items()})


def _submit(self: Any, *args: Any, **kwargs: Any) -> ResolvedFuture:
    kwargs.pop("wait_for", None)
    return ResolvedFuture(lambda: _call(self, *args, **kwargs))


def _map(self: Any, *args: Any, **kwargs: Any) -> ResolvedFutureList:
    """As Prefect maps: arguments that do not fit the task are refused; a future passed on
    counts as its value; `quote`, `allow_failure` and `opaque` are looked into (the task gets
    what they hold), `unmapped` is passed whole; strings and bytes are single values, a dict's
    keys are mapped over; the iterables must be as long as each other."""
    annotations = importlib.import_module("prefect.utilities.annotations")
    errors = importlib.import_module("prefect.exceptions")
    kwargs.pop("wait_for", None)
    signature = inspect.signature(self.fn)
    try:
        call = dict(signature.bind(*args, **kwargs).arguments)
    except TypeError as exc:
        raise errors.ParameterBindError(f"map() cannot call {self.fn.__name__}: {exc}") from None
    for name, parameter in signature.parameters.items():
        if parameter.kind is parameter.VAR_KEYWORD:  # its values are mapped as the others
            call.update(call.pop(name, {}))
    iterables: dict[str, list[Any]] = {}
    static: dict[str, Any] = {}
    for key, value in call.items():
        value = _resolve(value)
        if isinstance(value, annotations.BaseAnnotation) and not isinstance(
            value, annotations.unmapped
        ):
            value = value.unwrap()
        if isinstance(value, annotations.unmapped):
            static[key] = value.unwrap()
        elif _iterable(value):
            iterables[key] = list(value)
        else:
            static[key] = value
    if not iterables:
        raise errors.MappingMissingIterable(
            f"map() needs at least one iterable argument; it was given {static}"
        )
    lengths = {key: len(values) for key, values in iterables.items()}
    if len(set(lengths.values())) > 1:
        raise errors.MappingLengthMismatch(
            f"map() needs iterable arguments of the same length; their lengths are {lengths}"
        )
    [length] = set(lengths.values())
    return ResolvedFutureList(
        _submit(self, **static, **{k: v[i] for k, v in iterables.items()}) for i in range(length)
    )


def _iterable(value: Any) -> bool:
    """What Prefect's `map` iterates over: anything iterable but text, bytes and files."""
    try:
        iter(value)
    except TypeError:
        return False
    return not isinstance(value, str | bytes | io.IOBase)


def _run_logger(*args: Any, **kwargs: Any) -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)


def patch_prefect() -> None:
    """Make Prefect's flows, tasks and run logger plain (once per process)."""
    global _patched
    if _patched:
        return
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    modules: dict[str, Any] = {
        name: importlib.import_module(name)
        for name in ("prefect", "prefect.main", "prefect.flows", "prefect.tasks",
                     "prefect.logging", "prefect.logging.loggers")
    }  # fmt: skip
    # Prefect configures logging when it loads (replacing the root logger's handlers): the
    # run's own handler stays, Prefect's console handlers go
    root.handlers, root.level = handlers, level
    task_class, flow_class = modules["prefect.tasks"].Task, modules["prefect.flows"].Flow
    task_class.__call__, task_class.submit, task_class.map = _call, _submit, _map
    flow_class.__call__ = _call
    for name in ("prefect", "prefect.logging", "prefect.logging.loggers"):
        modules[name].get_run_logger = _run_logger
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers, logger.propagate = [], True
    logger.setLevel(logging.INFO)
    _patched = True
