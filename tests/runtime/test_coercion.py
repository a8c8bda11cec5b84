"""What a flow receives: its parameters coerced to its annotations before the call, as
Prefect's engine coerces them (pydantic's lax mode; here without pydantic installed, so through
flowplan's own coercion), and a value an annotation refuses fails the run before it starts."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Optional, Union
from uuid import UUID

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.domain.objects import StateType
from flowplan.runtime.coercion import ParameterError, coerce
from tests.runtime.helpers import deployment, run_engine, store

TYPED = """
import dataclasses, json
from datetime import date, datetime
from flowplan import flow

@dataclasses.dataclass
class Cfg:
    size: int
    label: str = "x"

@flow
def f(day: date, when: datetime | None, cfg: Cfg, n: int = 1):
    print("got", repr(day), repr(when), repr(cfg), repr(n))
"""


def test_a_flow_receives_dates_datetimes_and_dataclasses(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, source=TYPED, enforce_parameter_schema=False)
    parameters = {"day": "2024-01-05", "when": "2024-01-05T10:11:12Z", "cfg": {"size": "5"},
                  "n": "7"}  # fmt: skip
    run = backend.create_flow_run("f/d", parameters=parameters)
    run_engine(tmp_path / "home", run.id, tmp_path)
    done = backend.read_flow_run(run.id)
    assert done.state.type is StateType.COMPLETED, done.state.message
    logs = [line.message for line in backend.read_logs(run.id)]
    assert (
        "got datetime.date(2024, 1, 5) datetime.datetime(2024, 1, 5, 10, 11, 12,"
        " tzinfo=datetime.timezone.utc) Cfg(size=5, label='x') 7"
    ) in logs
    assert backend.read_flow_run(run.id).parameters == parameters  # the store keeps the JSON


def test_a_value_the_annotation_refuses_fails_the_run_before_it_starts(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, source=TYPED, enforce_parameter_schema=False)
    run = backend.create_flow_run(
        "f/d", parameters={"day": "not-a-date", "when": None, "cfg": {"size": 1}}
    )
    run_engine(tmp_path / "home", run.id, tmp_path)
    done = backend.read_flow_run(run.id)
    assert done.state.type is StateType.FAILED
    assert done.state.message == (
        "Validation of flow parameters failed with error: Flow run received invalid"
        " parameters:\n - day: Input should be a valid date or datetime"
    )
    assert not any(line.message.startswith("got") for line in backend.read_logs(run.id))


class Color(enum.Enum):
    RED = "red"
    TWO = 2


@dataclass
class Point:
    x: float
    y: float = 0.0


def typed(
    a: int, b: float, c: bool, d: Decimal, e: UUID, f: Path, g: Color, h: Literal[1, "one"],
    i: list[int], j: tuple[int, str], k: dict[str, date], m: Optional[int], o: Union[int, str],  # noqa: UP007, UP045
    p: Point, q: set[int], r: Any, s: "list[datetime]",  # noqa: UP037
) -> None: ...  # fmt: skip


def test_each_standard_annotation_is_coerced_as_pydantic_would() -> None:
    given = {
        "a": "42", "b": "1.5", "c": "yes", "d": "1.50", "e": "12345678123456781234567812345678",
        "f": "a/b", "g": 2, "h": 1.0, "i": ["1", 2.0], "j": ["3", "x"], "k": {"z": "2024-02-29"},
        "m": None, "o": "3", "p": {"x": 1}, "q": [1, "1"], "r": {"any": ["thing"]},
        "s": [1700000000, "2024-01-05T10:11"],
    }  # fmt: skip
    assert coerce(typed, typed, given) == {
        "a": 42, "b": 1.5, "c": True, "d": Decimal("1.50"),
        "e": UUID("12345678-1234-5678-1234-567812345678"), "f": Path("a/b"), "g": Color.TWO,
        "h": 1, "i": [1, 2], "j": (3, "x"), "k": {"z": date(2024, 2, 29)}, "m": None, "o": "3",
        "p": Point(1.0), "q": {1}, "r": {"any": ["thing"]},
        "s": [datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
              datetime(2024, 1, 5, 10, 11)],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"a": "abc"}, "a: Input should be a valid integer, unable to parse string as an integer"),
        ({"a": 1.5}, "a: Input should be a valid integer, got a number with a fractional part"),
        ({"c": "maybe"}, "c: Input should be a valid boolean, unable to interpret input"),
        ({"g": "RED"}, "g: Input should be 'red' or 2"),
        ({"h": "1"}, "h: Input should be 1 or 'one'"),
        ({"i": [1, "x"]}, "i.1: Input should be a valid integer"),
        ({"j": [1]}, "j: Tuple should have 2 items, not 1"),
        ({"k": {"z": "2024-02-30"}}, "k.z: Input should be a valid date or datetime"),
        ({"p": {"x": 1, "w": 2}}, "p: Unexpected keyword argument 'w'"),
        ({"zz": 1}, "unexpected keyword argument: 'zz'"),
    ],
)
def test_refusals_name_the_parameter_and_the_reason(given: dict[str, Any], problem: str) -> None:
    with pytest.raises(ParameterError) as raised:
        coerce(typed, typed, {**_valid(), **given})
    assert problem in raised.value.message


def _valid() -> dict[str, Any]:
    return {
        "a": 1, "b": 1.0, "c": True, "d": "1", "e": "12345678-1234-5678-1234-567812345678",
        "f": "x", "g": "red", "h": "one", "i": [], "j": [1, "a"], "k": {}, "m": 1, "o": 1,
        "p": {"x": 0}, "q": [], "r": 0, "s": [],
    }  # fmt: skip


def test_a_missing_required_parameter_and_an_unknown_annotation() -> None:
    with pytest.raises(ParameterError) as raised:
        coerce(typed, typed, {k: v for k, v in _valid().items() if k != "a"})
    assert raised.value.message.endswith("invalid parameters:\n - a: Field required")

    class Custom:
        pass

    def custom(x: Custom, y: complex = 1j) -> None: ...

    # not known without pydantic: passed as given (the run's log says so), never refused
    assert coerce(custom, custom, {"x": {"a": 1}}) == {"x": {"a": 1}}


def test_values_for_keyword_arguments_are_passed_as_given(tmp_path: Path) -> None:
    """As Prefect's validation does: `**kwargs` is a dict of anything."""
    backend: LocalBackend = store(tmp_path / "home")
    source = (
        "from flowplan import flow\n@flow\ndef f(**extra: int):\n    print(sorted(extra.items()))\n"
    )
    deployment(backend, tmp_path, source=source, enforce_parameter_schema=False)
    run = backend.create_flow_run("f/d", parameters={"b": "2", "a": 1})
    run_engine(tmp_path / "home", run.id, tmp_path)
    assert backend.read_flow_run(run.id).state.type is StateType.COMPLETED
    assert "[('a', 1), ('b', '2')]" in [line.message for line in backend.read_logs(run.id)]


class _PrefectLikeFlow:
    """Stands for a Prefect `Flow` (its type's module is `prefect.flows`): its own
    `validate_parameters` gives what the flow receives."""

    __module__ = "prefect.flows"

    def __init__(self, validated: Any = None, validate: bool = True) -> None:
        self.validated, self.should_validate_parameters = validated, validate
        self.asked: list[dict[str, Any]] = []

    def validate_parameters(self, parameters: dict[str, Any]) -> Any:
        self.asked.append(parameters)
        if isinstance(self.validated, Exception):
            raise self.validated
        return self.validated


def test_a_prefect_flow_is_given_what_its_own_validation_returns() -> None:
    def fn(a: int, *rest: int, **extra: int) -> None: ...

    flow = _PrefectLikeFlow({"a": 1, "rest": (), "extra": {"b": 2}})
    assert coerce(flow, fn, {"a": "1", "b": "2"}) == {"a": 1, "b": 2}  # **extra spread again
    assert flow.asked == [{"a": "1", "b": "2"}]
    assert coerce(_PrefectLikeFlow({"a": 1, "extra": None}), fn, {"a": "1"}) == {"a": 1}
    unsaid = _PrefectLikeFlow({"a": 2, "extra": {}})
    del unsaid.should_validate_parameters  # not said: validated, as Prefect's default
    assert coerce(unsaid, fn, {"a": "2"}) == {"a": 2} and unsaid.asked == [{"a": "2"}]
    not_validated = _PrefectLikeFlow(validate=False)
    assert coerce(not_validated, fn, {"a": "x"}) == {"a": "x"} and not_validated.asked == []
    with pytest.raises(ParameterError) as raised:
        coerce(_PrefectLikeFlow(ValueError("1 validation error for f")), fn, {"a": "x"})
    assert raised.value.message == (
        "Validation of flow parameters failed with error: 1 validation error for f"
    )


def test_an_object_of_a_prefect_module_without_validation_is_coerced_by_flowplan() -> None:
    class NotAFlow:
        __module__ = "prefect.utilities"

    def fn(a: int) -> None: ...

    assert coerce(NotAFlow(), fn, {"a": "7"}) == {"a": 7}
    flow = _PrefectLikeFlow({"a": "from prefect"})
    type(flow).__module__ = "prefectlike.flows"  # not Prefect's
    try:
        assert coerce(flow, fn, {"a": "7"}) == {"a": 7} and flow.asked == []
    finally:
        type(flow).__module__ = "prefect.flows"


def test_unknown_names_are_refused_all_at_once_unless_the_flow_takes_any() -> None:
    def fn(a: int = 0) -> None: ...

    with pytest.raises(ParameterError) as raised:
        coerce(fn, fn, {"b": 1, "c": 2})
    assert raised.value.message == (
        "Validation of flow parameters failed with error: unexpected keyword arguments: 'b', 'c'"
    )

    def takes_any(a: int = 0, **extra: Any) -> None: ...

    assert coerce(takes_any, takes_any, {"a": "1", "b": "x"}) == {"a": 1, "b": "x"}


def test_every_problem_is_listed_with_where_it_is() -> None:
    def fn(a: int, b: int, c: list[int]) -> None: ...

    with pytest.raises(ParameterError) as raised:
        coerce(fn, fn, {"a": "x", "b": 1, "c": [1, "y"]})
    assert raised.value.message == (
        "Validation of flow parameters failed with error: Flow run received invalid parameters:"
        "\n - a: Input should be a valid integer, unable to parse string as an integer"
        "\n - c.1: Input should be a valid integer, unable to parse string as an integer"
    )
    with pytest.raises(ParameterError) as missing:
        coerce(fn, fn, {})
    assert missing.value.message.endswith(
        "\n - a: Field required\n - b: Field required\n - c: Field required"
    )


def test_annotations_that_cannot_be_evaluated_leave_their_parameters_as_given() -> None:
    """A name an annotation uses is not defined: the annotations that are not strings still
    coerce; the parameters of the others are passed as given."""

    def fn(a, b, c):  # type: ignore[no-untyped-def]
        ...

    fn.__annotations__ = {"a": int, "b": "Undefined", "c": "int"}
    assert coerce(fn, fn, {"a": "3", "b": "kept", "c": "4"}) == {"a": 3, "b": "kept", "c": "4"}


def test_a_parameter_whose_annotation_is_not_covered_is_said_in_the_runs_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Custom:
        pass

    def fn(x):  # type: ignore[no-untyped-def]
        ...

    fn.__annotations__ = {"x": Custom}  # the class itself (a local name is not found again)
    with caplog.at_level(logging.WARNING, logger="flowplan.flow_run"):
        assert coerce(fn, fn, {"x": 1}) == {"x": 1}
    [record] = [r for r in caplog.records if r.name == "flowplan.flow_run"]
    assert record.getMessage().startswith("Parameter 'x' is passed as given: its annotation (")
    assert "Custom)" in record.getMessage()  # which annotation
    assert record.getMessage().endswith(
        ") is coerced only when pydantic is installed where the run executes"
    )
