"""flowplan's own coercion (used where pydantic is not installed), value by value, as pydantic's
lax mode gives it: what each annotation makes of a run's JSON values, and the messages (with
the path inside the parameter) for what it refuses."""

# ruff: noqa: UP007, UP045 (the `typing` spellings are annotations a flow may use)
from __future__ import annotations

import enum
from collections import abc
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, Optional, Union
from uuid import UUID

import pytest

from flowplan.runtime.std_coercion import Invalid, Unsupported, coerce


class Color(enum.Enum):
    RED = "red"
    ONE = 1


class Num(enum.Enum):
    """Members that are not text, one that does not match before one that does."""

    TWO = 2
    ONE = 1


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclass
class Point:
    x: int
    y: float = 0.0
    tags: list[str] | None = None


class Opaque:
    """A class neither coercion knows."""


ID = "12345678-1234-5678-1234-567812345678"


@pytest.mark.parametrize(("annotation", "value", "expected"), [
    (bool, "YES", True), (bool, "off", False), (bool, 1, True), (bool, 0.0, False),
    (int, " 1_000 ", 1000), (int, "-7.00", -7), (int, 7.0, 7), (int, True, 1),
    (int, Decimal("3"), 3),
    (float, " 1.5 ", 1.5), (float, 2, 2.0), (float, Decimal("0.25"), 0.25),
    (str, "x", "x"),
    (Decimal, " 1.50 ", Decimal("1.50")), (Decimal, 2, Decimal(2)), (Decimal, 0.5, Decimal("0.5")),
    (UUID, ID, UUID(ID)), (UUID, UUID(ID), UUID(ID)),
    (datetime, "2024-01-05T10:20:30.123456789Z", datetime(2024, 1, 5, 10, 20, 30, 123456, UTC)),
    (datetime, "2024-01-05 10:20+05:30",
     datetime(2024, 1, 5, 10, 20, tzinfo=timezone(timedelta(hours=5, minutes=30)))),
    (datetime, "2024-01-05t10:20:30-0200",
     datetime(2024, 1, 5, 10, 20, 30, tzinfo=timezone(-timedelta(hours=2)))),
    (datetime, "2024-01-05", datetime(2024, 1, 5)),
    (datetime, 1_700_000_000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
    (datetime, 1_700_000_000_000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
    (datetime, "1700000000.25", datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=UTC)),
    (datetime, -1.5, datetime(1969, 12, 31, 23, 59, 58, 500000, tzinfo=UTC)),
    (datetime, date(2024, 1, 5), datetime(2024, 1, 5)),
    (date, "2024-01-05", date(2024, 1, 5)), (date, "2024-01-05T00:00:00", date(2024, 1, 5)),
    (date, 0, date(1970, 1, 1)), (date, date(2024, 1, 5), date(2024, 1, 5)),
    (Path, "a/b", Path("a/b")), (PurePosixPath, "a", PurePosixPath("a")),
    (Color, "red", Color.RED), (Color, 1, Color.ONE), (Color, 1.0, Color.ONE),
    (Color, Color.RED, Color.RED), (Level, "2", Level.HIGH), (Level, 2.0, Level.HIGH),
    (Literal["a", 1], 1, 1), (Literal["a", 1], True, 1), (Literal["a", 1], "a", "a"),
    (Literal[1, True], True, True),
    (list[int], ("1", 2), [1, 2]), (abc.Sequence[float], [1], [1.0]), (list, [1, "a"], [1, "a"]),
    (set[int], ["1", 1, 2], {1, 2}), (frozenset[str], ["a"], frozenset({"a"})),
    (tuple[int, str], ["1", "x"], (1, "x")), (tuple[int, ...], ["1", 2, 3], (1, 2, 3)),
    (tuple, [1, "a"], (1, "a")), (tuple[()], [], ()),
    (dict[str, int], {"a": "1"}, {"a": 1}), (dict, {"a": [1]}, {"a": [1]}),
    (abc.Mapping[int, str], {"1": "x"}, {1: "x"}),
    (Optional[int], None, None), (Optional[int], "3", 3), (int | None, 3, 3),
    (Union[int, str], "1", "1"), (Union[str, int], 1, 1), (float | int, 1, 1),
    (int | float, 1.5, 1.5), (bool | int, 1, 1), (int | bool, True, True),
    (Union[int, float], "1.5", 1.5), (Union[list[int], str], ["1"], [1]),
    (Union[Literal["x"], int], "x", "x"), (Union[Any, float], 1.5, 1.5),
    # smart unions over containers: the member the value already is, wherever it comes
    (Union[list[int], list[str]], ["1"], ["1"]), (Union[list[str], list[int]], [1], [1]),
    (Union[list[float], list[int]], [1], [1]), (Union[list[int], list[float]], [1.5], [1.5]),
    (Union[dict[int, str], dict[str, str]], {"1": "x"}, {"1": "x"}),
    (Union[dict[str, int], dict[str, str]], {"a": "1"}, {"a": "1"}),
    (Union[abc.Sequence[str], int], ["a"], ["a"]), (Union[abc.Mapping[str, int], str], {"a": 1}, {"a": 1}),
    (Union[Optional[str], int], 1, 1), (Union[Annotated[str, "x"], int], 1, 1),
    (Union[Annotated[str, "x"], int], "1", "1"), (Union[Literal["a"], str], "b", "b"),
    (Union[None, int], None, None), (Union[str, None, int], 2, 2),
    (Annotated[int, "doc"], "4", 4), (Any, {"k": 1}, {"k": 1}), (object, 1, 1),
    (type(None), None, None), (None, None, None),
    (Point, {"x": "1", "tags": ["a"]}, Point(1, 0.0, ["a"])), (Point, Point(2), Point(2)),
    # (checked against pydantic 2 in .venv-prefect)
    (datetime, "2024-01-05T10:20:30z", datetime(2024, 1, 5, 10, 20, 30, tzinfo=UTC)),
    (datetime, "2024-01-05T10:20:30.5", datetime(2024, 1, 5, 10, 20, 30, 500000)),
    (Num, 1.0, Num.ONE), (Union[bool, float], 1, 1.0), (Union[int, float], 1.0, 1.0),
    (Union[float, Any], 1, 1.0),
    (datetime, 20_000_000_000, datetime(2603, 10, 11, 11, 33, 20, tzinfo=UTC)),  # seconds still
    (datetime, 1700000000.1, datetime(2023, 11, 14, 22, 13, 20, 100000, tzinfo=UTC)),
])  # fmt: skip
def test_values_are_coerced_as_pydantic_coerces_them(
    annotation: Any, value: Any, expected: Any
) -> None:
    got = coerce(annotation, value)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(("annotation", "value", "message", "path"), [
    (bool, "maybe", "Input should be a valid boolean, unable to interpret input", ()),
    (bool, 2, "Input should be a valid boolean, unable to interpret input", ()),
    (int, 1.5, "Input should be a valid integer, got a number with a fractional part", ()),
    (int, float("nan"), "Input should be a valid integer, got a number with a fractional part", ()),
    (int, "1.5", "Input should be a valid integer, unable to parse string as an integer", ()),
    (int, [1], "Input should be a valid integer", ()),
    (float, "one", "Input should be a valid number, unable to parse string as a number", ()),
    (float, None, "Input should be a valid number", ()),
    (str, 1, "Input should be a valid string", ()),
    (Decimal, True, "Decimal input should be an integer, float, string or Decimal object", ()),
    (Decimal, "abc", "Input should be a valid decimal", ()),
    (Decimal, "nan", "Input should be a finite number", ()),
    (UUID, 5, "UUID input should be a string, bytes or UUID object", ()),
    (UUID, "nope", "Input should be a valid UUID", ()),
    (datetime, "yesterday", "Input should be a valid datetime or date", ()),
    (datetime, True, "Input should be a valid datetime", ()),
    (datetime, "2024-02-30", "Input should be a valid datetime, day is out of range for month", ()),
    (date, "2024-01-05T10:00:00",
     "Datetimes provided to dates should have zero time - e.g. be exact dates", ()),
    (date, "soon", "Input should be a valid date or datetime", ()),
    (Path, 5, f"Input is not a valid path for {Path}", ()),
    (Color, "blue", "Input should be 'red' or 1", ()),
    (Color, "1", "Input should be 'red' or 1", ()),
    (Level, "3", "Input should be 1 or 2", ()),
    (Literal["a"], "b", "Input should be 'a'", ()),
    (Literal["a", "b", 3], "1", "Input should be 'a', 'b' or 3", ()),
    (list[int], "12", "Input should be a valid list", ()),
    (list[int], {"a": 1}, "Input should be a valid list", ()),
    (set[int], 5, "Input should be a valid set", ()),
    (list[int], [1, "x"], "Input should be a valid integer, unable to parse string as an integer",
     (1,)),
    (list[list[int]], [[1], [2, "y"]],
     "Input should be a valid integer, unable to parse string as an integer", (1, 1)),
    (tuple[int, int], [1], "Tuple should have 2 items, not 1", ()),
    (tuple[int, str], [1, 2], "Input should be a valid string", (1,)),
    (tuple[int, ...], [1, "z"],
     "Input should be a valid integer, unable to parse string as an integer", (1,)),
    (tuple, "ab", "Input should be a valid tuple", ()),
    (tuple[int], 5, "Input should be a valid tuple", ()),
    (datetime, 10**20, "Input should be a valid datetime, out of range", ()),
    (dict[str, int], [], "Input should be a valid dictionary", ()),
    (dict[str, int], {"a": "x"},
     "Input should be a valid integer, unable to parse string as an integer", ("a",)),
    (None, 0, "Input should be None", ()),
    (Optional[int], "x", "Input should be a valid integer, unable to parse string as an integer",
     ()),
    (Point, [1], "Input should be a dictionary or an instance of Point", ()),
    (Point, {"x": 1, "z": 2}, "Unexpected keyword argument 'z'", ()),
    (Point, {"x": 1, "tags": [1]}, "Input should be a valid string", ("tags", 0)),
])  # fmt: skip
def test_refusals_say_why_and_where(
    annotation: Any, value: Any, message: str, path: tuple[Any, ...]
) -> None:
    with pytest.raises(Invalid) as caught:
        coerce(annotation, value)
    assert (caught.value.message, caught.value.path) == (message, path)
    assert str(caught.value) == message


def test_a_dataclass_missing_a_field_and_an_unknown_annotation() -> None:
    with pytest.raises(Invalid, match="missing 1 required positional argument: 'x'"):
        coerce(Point, {"y": 1})
    with pytest.raises(Unsupported, match=r"^Opaque$"):
        coerce(Opaque, {"a": 1})
    instance = Opaque()
    assert coerce(Opaque, instance) is instance  # an instance is taken as it is
    with pytest.raises(Unsupported, match=r"^collections\.abc\.Callable\[\[int\], int\]$"):
        coerce(abc.Callable[[int], int], 1)
