"""The one check of a run's parameters against its deployment's schema, in the store's and
the server's wording."""

from __future__ import annotations

from typing import Any

from flowplan.domain import run_checks
from flowplan.server.params import parameter_issues as server_issues

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"n": {"type": "integer"}, "day": {"type": "string"}},
    "required": ["n"],
}


def test_issues_are_paths_inside_the_parameters_with_messages() -> None:
    assert run_checks.parameter_issues(SCHEMA, {"n": "x"}) == [
        (("n",), "expected an integer, got text ('x')")
    ]
    assert run_checks.parameter_issues(SCHEMA, {}) == [((), "missing required key 'n'")]
    assert run_checks.parameter_issues(SCHEMA, {"n": 1, "day": "mon"}) == []


def test_each_caller_keeps_its_wording() -> None:
    values = {"day": 3}
    assert run_checks.parameter_problems(values, SCHEMA) == [
        "parameters: missing required key 'n'",
        "parameters.day: expected text, got an integer (3)",
    ]
    assert server_issues(SCHEMA, values) == [
        ("parameters", "missing required key 'n'"),
        ("day", "expected text, got an integer (3)"),
    ]


def test_a_schema_without_properties_checks_nothing_in_the_store() -> None:
    assert run_checks.parameter_problems({"n": "x"}, {"type": "object"}) == []
    assert run_checks.parameter_problems({"n": "x"}, None) == []


def test_validators_are_kept_by_the_schema_text_in_its_key_order() -> None:
    same = run_checks._validator(dict(SCHEMA))
    assert run_checks._validator({**SCHEMA}) is same
    reordered = {"required": ["n"], **SCHEMA}
    assert run_checks._validator(reordered) is not same
    broken = {"$ref": "#/$defs/missing", "properties": {}}
    assert run_checks.parameter_issues(broken, {"n": 1}) == []  # lenient: checks nothing
