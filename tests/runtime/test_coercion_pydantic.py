"""What a flow receives where pydantic is installed (as beside Prefect): flowplan's coercion of a
flowplan flow or a plain function goes through pydantic's lax validation, and a Prefect flow
through Prefect's own `Flow.validate_parameters`. Prefect is the oracle: the same function
declared as a Prefect flow receives the same values, or both refuse. Each test runs in a child
of the test process with `.venv-prefect`'s packages (tests/runtime/with_prefect.py)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from tests.oracle.harness import collect
from tests.oracle.shared import PRELUDE, encode
from tests.oracle.values import cases
from tests.runtime.with_prefect import with_prefect

COUNT = 150
PREFIX = "Validation of flow parameters failed with error: "  # the oracle suite (tests/oracle/test_run_values_oracle.py) draws more

SOURCE = (
    PRELUDE
    + """
from pydantic import BaseModel

class Size(BaseModel):
    width: int
    unit: str = "px"

class Custom:
    pass

def models(size: Size, later: Later, points: list[Point]): ...

def defaults(a: int, b: int = 5, c: "Optional[date]" = None): ...

def untyped(a, b: int, **rest: int): ...

def custom(x: Custom, many: list[Custom] = []): ...  # noqa: B006

def nested(a: int, b: int, c: list[int], d: dict[str, Point]): ...

def keyword_only(a: int, *more: int, b: int, c: Optional[Point] = None): ...

def undefined(a: int, b: "Missing" = None): ...  # noqa: F821

class Later(BaseModel):
    when: datetime
"""
)  # `Later` is defined after the function that names it (found in the module's globals)

SPECIAL: list[tuple[str, dict[str, Any]]] = [
    ("models", {"size": {"width": "3"}, "later": {"when": "2024-01-05T10:11"},
                "points": [{"x": "1.5"}, {"x": 2, "y": "3"}]}),
    ("models", {"size": {"width": "wide"}, "later": {"when": 1}, "points": []}),
    ("defaults", {"a": "1"}),
    ("defaults", {"a": 1, "b": "2", "c": "2024-02-29"}),
    ("defaults", {"a": 1, "c": None}),
    ("defaults", {"b": 1}),
    ("defaults", {"a": 1, "z": 2}),
    ("untyped", {"a": {"kept": "as given"}, "b": "4", "x": "1", "y": 2}),
    ("untyped", {"a": 1}),
    ("custom", {"x": {"not": "a Custom"}}),
    ("nested", {"a": "x", "b": 1, "c": [1, "y"], "d": {"p": {"x": "n"}}}),
    ("nested", {"a": 1, "b": 2, "c": ["3"], "d": {"p": {"x": "4"}}}),
    ("keyword_only", {"a": "1", "b": "2", "c": {"x": "3"}}),
    ("keyword_only", {"a": 1, "b": "two"}),
    ("undefined", {"a": "1"}),
]  # fmt: skip


def _namespace() -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(SOURCE, namespace)
    return namespace


def _received(fn: Callable[..., Any], keywords: dict[str, Any]) -> Any:
    """What `fn` is called with (defaults filled in), as comparable JSON."""
    bound = inspect.signature(fn).bind(**keywords)
    bound.apply_defaults()
    return encode(dict(bound.arguments))


def _both(fn: Callable[..., Any], parameters: dict[str, Any]) -> tuple[Any, Any]:
    """(what `fn` receives from Prefect as a Prefect flow, from flowplan as a flowplan flow);
    a refusal is ["refused", message]."""
    from prefect import flow

    from flowplan.runtime.coercion import ParameterError, coerce

    declared = inspect.signature(fn).parameters
    named = dict(parameters)
    if "rest" in declared:  # Prefect takes the values of `**rest` as one dict, under its name
        named = {k: v for k, v in parameters.items() if k in declared}
        named["rest"] = {k: v for k, v in parameters.items() if k not in declared}
    try:
        validated = flow(fn).validate_parameters(named)
        rest = validated.pop("rest", None) or {}
        validated.pop("more", None)  # (`*more`: nothing is given for it)
        theirs = _received(fn, {**validated, **rest})
    except Exception as exc:
        theirs = ["refused", str(exc)]
    try:
        ours = _received(fn, coerce(fn, fn, parameters))
    except ParameterError as exc:
        ours = ["refused", exc.message]
    return theirs, ours


def _pydantic_is_used() -> None:
    from flowplan.runtime import coercion

    coercion.pydantic_installed.cache_clear()  # (the test process asked before: not installed)
    assert coercion.pydantic_installed() is True


def test_with_pydantic_generated_values_are_received_as_prefect_gives_them() -> None:
    batch = collect(cases(), COUNT)

    def compare() -> list[str]:
        _pydantic_is_used()
        found = []
        for case in batch:
            namespace: dict[str, Any] = {}
            exec(PRELUDE + f"\ndef f(x: {case['annotation']}): ...\n", namespace)
            theirs, ours = _both(namespace["f"], {"x": case["value"]})
            if _outcome(theirs) != _outcome(ours):
                found.append(f"x: {case['annotation']} = {case['value']!r}: flowplan {ours!r},"
                             f" Prefect {theirs!r}")  # fmt: skip
        return found

    assert len(batch) > COUNT * 0.9
    found = with_prefect(compare)
    assert not found, f"{len(found)} of {len(batch)} cases differ:\n" + "\n".join(found[:40])


def _outcome(answer: Any) -> Any:
    return "refused" if isinstance(answer, list) and answer[:1] == ["refused"] else answer


def test_with_pydantic_models_defaults_untyped_and_custom_classes_are_received_as_prefect_gives() -> (
    None
):
    def compare() -> list[tuple[Any, Any]]:
        _pydantic_is_used()
        namespace = _namespace()
        return [_both(namespace[name], parameters) for name, parameters in SPECIAL]

    answers = with_prefect(compare)
    for (name, parameters), (theirs, ours) in zip(SPECIAL, answers, strict=True):
        assert _outcome(ours) == _outcome(theirs), (name, parameters, ours, theirs)
        if _outcome(theirs) == "refused" and theirs[1].startswith("Flow run received"):
            assert ours[1] == PREFIX + theirs[1]  # where and why, as Prefect says it
    unknown = SPECIAL.index(("defaults", {"a": 1, "z": 2}))  # (Prefect: "Function expects")
    assert answers[unknown][1] == ["refused", PREFIX + "unexpected keyword argument: 'z'"]
    assert sum(_outcome(ours) == "refused" for _, ours in answers) == 8
    undefined = SPECIAL.index(("undefined", {"a": "1"}))  # (Prefect: "... is not fully defined")
    assert answers[undefined][1][1].startswith(PREFIX + "name 'Missing' is not defined\n")


def test_with_pydantic_instances_of_any_class_pass_as_they_are() -> None:
    def call() -> list[bool]:
        _pydantic_is_used()
        from flowplan.runtime.coercion import coerce

        namespace = _namespace()
        custom, one, two = namespace["custom"], namespace["Custom"](), namespace["Custom"]()
        received = coerce(custom, custom, {"x": one, "many": [two]})
        return [received["x"] is one, received["many"][0] is two, list(received) == ["x", "many"]]

    assert with_prefect(call) == [True, True, True]


def test_a_prefect_flow_receives_what_its_own_validation_gives() -> None:
    """A real Prefect flow: its `validate_parameters`, `**kwargs` spread again; declared with
    `validate_parameters=False`, the values as given; a refusal in Prefect's words."""

    def call() -> list[Any]:
        from prefect import flow

        from flowplan.runtime.coercion import ParameterError, coerce

        namespace = _namespace()
        untyped, defaults = namespace["untyped"], namespace["defaults"]
        answers: list[Any] = [
            coerce(flow(untyped), untyped, {"a": "x", "b": "4", "rest": {"y": "2"}}),
            coerce(flow(defaults), defaults, {"a": "1", "c": "2024-02-29"}),
            coerce(flow(defaults, validate_parameters=False), defaults, {"a": "1", "q": 1}),
        ]
        for parameters in ({"a": "one"}, {"a": 1, "q": 2}):
            try:
                coerce(flow(defaults), defaults, parameters)
            except ParameterError as exc:
                answers.append(exc.message)
        return [encode(answer) for answer in answers]

    dated = ["date", "2024-02-29"]
    assert with_prefect(call) == [
        ["dict", [["a", "x"], ["b", ["int", "4"]], ["y", "2"]]],
        ["dict", [["a", ["int", "1"]], ["b", ["int", "5"]], ["c", dated]]],
        ["dict", [["a", "1"], ["q", ["int", "1"]]]],
        PREFIX + "Flow run received invalid parameters:\n - a: Input should be a valid integer,"
        " unable to parse string as an integer",
        PREFIX + "Function expects parameters ['a', 'b', 'c'] but was provided with parameters"
        " ['a', 'q']",
    ]
