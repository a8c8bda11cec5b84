"""The parts of `prefect_compat` that need Prefect, with the real Prefect 3 (in a child of the
test process with `.venv-prefect`'s packages, tests/runtime/with_prefect.py): after
`patch_prefect()`, Prefect's tasks and flows are plain calls, `.submit()`/`.map()` give resolved
futures, `get_run_logger()` is the run's standard logger, and `.map()` spreads its arguments as
Prefect's own mapping does (Prefect's task runner's `map` is the oracle)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from tests.oracle.harness import collect
from tests.runtime.with_prefect import with_prefect

# an argument of map(), described (Prefect's annotations and futures are made in the child)
Described = tuple[str, Any]


def _plain() -> st.SearchStrategy[Described]:
    small = st.integers(-3, 3)
    return st.one_of(
        small.map(lambda n: ("value", n)),
        st.none().map(lambda n: ("value", n)),
        st.text("ab", max_size=2).map(lambda t: ("value", t)),
        st.binary(max_size=2).map(lambda b: ("value", b)),
        st.lists(small, max_size=3).map(lambda v: ("value", v)),
        st.lists(small, max_size=3).map(lambda v: ("value", tuple(v))),
        st.sets(small, max_size=3).map(lambda v: ("value", v)),
        st.dictionaries(st.text("xy", min_size=1, max_size=1), small, max_size=2).map(
            lambda v: ("value", v)
        ),
        st.lists(small, max_size=3).map(lambda v: ("range", len(v))),
    )


def _argument() -> st.SearchStrategy[Described]:
    plain = _plain()
    wrapped = st.tuples(st.sampled_from(["unmapped", "quote", "allow_failure", "opaque",
                                         "future"]), plain)  # fmt: skip
    return st.one_of(plain, wrapped)


def _calls() -> st.SearchStrategy[dict[str, Any]]:
    """Mostly calls that bind (`a` and maybe more positionally, the rest maybe by name); some
    that do not (too many positional arguments, one given twice, `a` missing, a name the task
    does not take)."""

    def rest(positional: list[Described]) -> st.SearchStrategy[dict[str, Any]]:
        names = ["b", "c"][max(len(positional) - 1, 0) :]
        keywords = st.dictionaries(st.sampled_from(names), _argument()) if names else st.just({})
        return st.fixed_dictionaries({"positional": st.just(positional), "keywords": keywords})

    binding = st.lists(_argument(), min_size=1, max_size=3).flatmap(rest)
    wrong = st.fixed_dictionaries({
        "positional": st.lists(_argument(), max_size=4),
        "keywords": st.dictionaries(st.sampled_from(["a", "b", "d"]), _argument(), max_size=2),
    })  # fmt: skip
    return st.one_of(binding, binding, binding, wrong)


# besides the generated calls (which seldom wrap a long iterable): each kind with some length
EXAMPLES: list[dict[str, Any]] = [
    {"positional": [("value", [1, 2, 3])],
     "keywords": {"b": ("unmapped", ("value", [9])), "c": ("quote", ("value", [4, 5, 6]))}},
    {"positional": [("future", ("value", [1, 2]))], "keywords": {"b": ("unmapped", ("value", "x"))}},
    {"positional": [("value", {"x": 1, "y": 2})],
     "keywords": {"b": ("allow_failure", ("range", 2)), "c": ("unmapped", ("value", {"k": 1}))}},
    {"positional": [("opaque", ("value", (1, 2))), ("future", ("unmapped", ("value", [7])))],
     "keywords": {}},
    {"positional": [("quote", ("unmapped", ("value", [1, 2])))], "keywords": {}},
    {"positional": [("value", [1, 2])], "keywords": {"b": ("value", [3])}},
]  # fmt: skip


def _mapped(a: Any, b: Any = "B", c: Any = "C") -> tuple[Any, Any, Any]:
    return (a, b, c)


def _build(described: Described, for_prefect: bool) -> Any:
    """The argument itself: for Prefect's oracle a future is the value it resolves to (Prefect
    resolves futures before mapping)."""
    from prefect.utilities import annotations

    from flowplan.runtime.prefect_compat import ResolvedFuture

    kind, inner = described
    if kind == "value":
        return inner
    if kind == "range":
        return range(inner)
    value = _build(inner, for_prefect)
    if kind == "future":
        return value if for_prefect else ResolvedFuture(lambda: value)
    return getattr(annotations, kind)(value)


def _extra(a: Any, **extra: Any) -> tuple[Any, dict[str, Any]]:
    # in key order: Prefect gathers `**extra` again through a set, so the order it gives them
    # in changes with the string hash seed (PYTHONHASHSEED)
    return (a, dict(sorted(extra.items())))


# a task that takes `**extra`: its values are mapped over as the others
EXTRA: list[dict[str, Any]] = [
    {"positional": [("value", [1, 2])], "keywords": {"x": ("value", [3, 4])}},
    {"positional": [("value", [1, 2])],
     "keywords": {"x": ("unmapped", ("value", [3])), "y": ("quote", ("value", (5, 6)))}},
    {"positional": [("value", 0)], "keywords": {"x": ("value", "s"), "y": ("range", 3)}},
    {"positional": [("value", [1])], "keywords": {}},
    {"positional": [("value", [1])], "keywords": {"x": ("value", [1, 2])}},
]  # fmt: skip


def _prefects_calls(
    positional: list[Any], keywords: dict[str, Any], fn: Callable[..., Any] = _mapped
) -> Any:
    """What Prefect's `Task.map` submits (its task runner's `map`, with a `submit` that only
    records), each call's annotations taken off as Prefect's task engine does; or the name of
    the error it raises."""
    from prefect import task
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect.utilities.annotations import BaseAnnotation
    from prefect.utilities.callables import get_call_parameters

    submitted: list[dict[str, Any]] = []

    class Recording(ThreadPoolTaskRunner):  # type: ignore[misc]
        def submit(self, task: Any, parameters: dict[str, Any], *args: Any, **kw: Any) -> None:
            submitted.append(parameters)

    try:
        with Recording() as runner:
            parameters = get_call_parameters(fn, tuple(positional), keywords)
            runner.map(task(fn), parameters)
    except Exception as exc:
        return type(exc).__name__

    def bare(values: dict[str, Any]) -> dict[str, Any]:
        return {k: v.unwrap() if isinstance(v, BaseAnnotation) else v for k, v in values.items()}

    received = []
    for call in submitted:  # (Prefect gives `**extra` as one dict again)
        extra = call.pop("extra", {})
        received.append(repr(fn(**bare({**call, **extra}))))
    return received


def _prefect_refuses_binding(case: dict[str, Any]) -> bool:
    given = ["a", "b", "c"][: len(case["positional"])]
    names = given + list(case["keywords"])
    return (
        len(case["positional"]) > 3
        or len(set(names)) < len(names)
        or "a" not in names
        or ("d" in names)
    )


def test_map_calls_the_task_as_prefects_mapping_would() -> None:
    batch = EXAMPLES + collect(_calls(), 300)

    def compare() -> list[str]:
        from prefect import task

        from flowplan.runtime.prefect_compat import patch_prefect

        patch_prefect()
        found = []
        for case, fn in [*((case, _mapped) for case in batch), *((case, _extra) for case in EXTRA)]:
            mapped = task(fn)
            theirs = _prefects_calls(
                [_build(a, True) for a in case["positional"]],
                {k: _build(v, True) for k, v in case["keywords"].items()},
                fn,
            )
            try:
                futures = mapped.map(
                    *[_build(a, False) for a in case["positional"]],
                    **{k: _build(v, False) for k, v in case["keywords"].items()},
                )
                ours: Any = [repr(value) for value in futures.result()]
            except Exception as exc:
                ours = type(exc).__name__
            if ours != theirs:
                found.append(f"{case}: flowplan {ours}, Prefect {theirs}")
        return found

    assert len(batch) > 250
    assert 20 < sum(_prefect_refuses_binding(case) for case in batch) < 150
    found = with_prefect(compare)
    assert not found, f"{len(found)} of {len(batch)} cases differ:\n" + "\n".join(found[:30])


def test_map_refusals_are_prefects_errors_and_wait_for_is_not_an_argument() -> None:
    def call() -> list[str]:
        from prefect import task

        from flowplan.runtime.prefect_compat import ResolvedFuture, patch_prefect

        patch_prefect()
        mapped = task(_mapped)
        said = []
        for arguments in ({"a": 1, "b": "xy"}, {"a": [1, 2], "b": [1]}, {"a": [1], "d": [1]}):
            try:
                mapped.map(**arguments)
            except Exception as exc:
                said.append(f"{type(exc).__name__}: {exc}")
        done = ResolvedFuture(lambda: [5, 6])
        said.append(repr(mapped.map(done, wait_for=[done], c=(7, 8)).result()))
        return said

    assert with_prefect(call) == [
        "MappingMissingIterable: map() needs at least one iterable argument; it was given"
        " {'a': 1, 'b': 'xy'}",
        "MappingLengthMismatch: map() needs iterable arguments of the same length; their"
        " lengths are {'a': 2, 'b': 1}",
        "ParameterBindError: map() cannot call _mapped: got an unexpected keyword argument 'd'",
        "[(5, 'B', 7), (6, 'B', 8)]",
    ]


def test_prefect_tasks_and_flows_are_plain_calls_after_patching() -> None:
    """No Prefect engine runs (no task or flow run context; with no API and no ephemeral
    server allowed, Prefect's engine would fail at once), futures are already resolved, async
    tasks are run to their end."""

    def call() -> list[Any]:
        import os

        os.environ.pop("PREFECT_API_URL", None)
        os.environ["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] = "false"
        from flowplan.runtime.prefect_compat import ResolvedFuture, patch_prefect

        patch_prefect()
        from prefect import flow, task
        from prefect.context import FlowRunContext, TaskRunContext

        @task(retries=3)
        def add(a: int, b: int) -> tuple[int, bool]:
            return a + b, TaskRunContext.get() is None

        @task
        async def double(n: int) -> int:
            return 2 * n

        @flow
        def sub(n: int) -> tuple[int, bool]:
            return add(n, n)[0], FlowRunContext.get() is None

        first = add.submit(1, b=ResolvedFuture(lambda: 2), wait_for=[])
        return [
            add(1, 2),
            type(first).__name__,
            first.result(),
            add.submit(first.result()[0], 4).result(),
            asyncio.run(double(4)),  # (an async task called gives a coroutine, as in Prefect)
            double.submit(5).result(),
            [future.result() for future in double.map([1, 2])],
            sub(5),
        ]

    assert with_prefect(call) == [
        (3, True),
        "ResolvedFuture",
        (3, True),
        (7, True),
        8,
        10,
        [2, 4],
        (10, True),
    ]


def test_the_run_logger_is_the_runs_standard_logger_and_prefects_logging_setup_is_undone() -> None:
    def call() -> dict[str, Any]:
        mine = logging.StreamHandler()
        root = logging.getLogger()
        root.handlers, root.level = [mine], logging.DEBUG
        records: list[str] = []
        mine.emit = lambda record: records.append(f"{record.name}:{record.getMessage()}")  # type: ignore[method-assign]
        run_logger = logging.getLogger("flow_run")
        run_logger.handlers, run_logger.propagate = [logging.NullHandler()], False
        run_logger.setLevel(logging.ERROR)

        from flowplan.runtime.prefect_compat import patch_prefect

        patch_prefect()
        import prefect
        import prefect.logging
        import prefect.logging.loggers

        loggers = [prefect.get_run_logger(), prefect.logging.get_run_logger(),
                   prefect.logging.loggers.get_run_logger()]  # fmt: skip
        prefect.get_run_logger().info("shown")
        prefect.get_run_logger().debug("not shown")
        return {
            "root": (root.handlers == [mine], root.level),
            "loggers": [logger is run_logger for logger in loggers],
            "run logger": (run_logger.handlers, run_logger.propagate, run_logger.level),
            "records": records,
        }

    assert with_prefect(call) == {
        "root": (True, logging.DEBUG),
        "loggers": [True, True, True],
        "run logger": ([], True, logging.INFO),
        "records": ["flow_run:shown"],
    }


def test_patching_twice_patches_once() -> None:
    def call() -> list[bool]:
        from flowplan.runtime import prefect_compat

        prefect_compat.patch_prefect()
        from prefect.tasks import Task

        def mine(self: Any, *args: Any, **kwargs: Any) -> str:
            return "mine"

        Task.__call__ = mine  # type: ignore[method-assign]
        prefect_compat.patch_prefect()
        return [Task.__call__ is mine]

    assert with_prefect(call) == [True]
