"""The value rules every entry point shares (domain/values.py, schedule_rules intervals)."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from flowplan.domain.schedule_rules import MAX_INTERVAL, parse_interval
from flowplan.domain.values import MAX_INTEGER, check_seconds, json_problem, limit_problem
from flowplan.errors import InvalidInput


@pytest.mark.parametrize(
    ("value", "problem"),
    [({"a": [1, {"b": math.inf}]}, "a[1].b: Infinity is not a finite number"),
     ([-math.inf], "[0]: -Infinity is not a finite number"),
     (math.nan, "the value: NaN is not a finite number"),
     ({(1, 2): "x"}, "the value: key (1, 2) is not text"),
     ({"when": timedelta(1)}, "when: timedelta is not a JSON value")],
)  # fmt: skip
def test_json_problem_names_the_first_bad_part(value: object, problem: str) -> None:
    assert (json_problem(value) or "").startswith(problem)


def test_json_values_the_store_holds_pass() -> None:
    big = 10**40  # JSON and both stores hold integers of any size in JSON text
    assert json_problem({"a": [1, 2.5, None, True, "x", big, {"b": ()}]}) is None
    nested: object = 1
    for _ in range(500):
        nested = [nested]
    assert json_problem(nested) is None
    for _ in range(1500):  # past what Python's encoder (and SQLite) take
        nested = [nested]
    assert json_problem(nested) == "[0]" * 501 + ": nested more than 500 levels deep"


def test_limits_stop_at_what_prefect_stores() -> None:
    assert limit_problem("limit", MAX_INTEGER) is None
    assert limit_problem("limit", MAX_INTEGER + 1) == (
        "limit must be at most 2,147,483,647, got 2147483648"
    )
    assert limit_problem("limit", 10**5000) == (
        "limit must be at most 2,147,483,647, got a number of about 5001 digits"
    )
    assert limit_problem("limit", True) == "limit must be a whole number, got True"


def test_seconds_from_the_command_line_are_finite_and_bounded() -> None:
    assert check_seconds("--x", 0.5, minimum=0.001, maximum=10) == 0.5
    for bad in (math.nan, math.inf, 0.0, 11.0):
        with pytest.raises(InvalidInput, match=r"--x must be between 0\.001 and 10 seconds"):
            check_seconds("--x", bad, minimum=0.001, maximum=10)


def test_interval_bounds_are_what_a_timedelta_holds() -> None:
    assert parse_interval(1e-6) == 1e-6
    assert parse_interval(MAX_INTERVAL) == MAX_INTERVAL
    assert timedelta(seconds=MAX_INTERVAL) == timedelta(days=999_999_999)
    for bad in (4e-7, MAX_INTERVAL + 1, 10**400, "9" * 400, math.inf, math.nan, "P1e9W"):
        with pytest.raises(ValueError):
            parse_interval(bad)
