"""Run-time values, Prefect as the oracle: for generated annotations and JSON parameter values,
what a flow receives equals what Prefect's `Flow.validate_parameters` gives (the same value and
type, or a refusal on both sides): flowplan's own coercion without pydantic (`std_coercion`,
what the engine uses when pydantic is not installed), and flowplan's coercion with pydantic
(run beside Prefect in `.venv-prefect`)."""

from __future__ import annotations

import typing
from typing import Any

from flowplan.runtime import std_coercion
from tests.oracle.harness import ask_prefect, collect
from tests.oracle.shared import PRELUDE, encode
from tests.oracle.values import cases

COUNT = 300  # bench/oracle_bench.py runs many more, random


def flowplan_without_pydantic(annotation: str, value: Any) -> Any:
    namespace: dict[str, Any] = {}
    exec(PRELUDE + f"\ndef f(x: {annotation}): ...\n", namespace)
    hint = typing.get_type_hints(namespace["f"], include_extras=True)["x"]
    try:
        return encode(std_coercion.coerce(hint, value))
    except std_coercion.Invalid as exc:
        return ["error", exc.message]


def differences(batch: list[dict[str, Any]]) -> list[str]:
    """Each case where a flowplan side differs from Prefect, described."""
    found = []
    for case, answer in zip(batch, ask_prefect("run_values", batch), strict=True):
        theirs = answer["prefect"]
        ours = {"without pydantic": flowplan_without_pydantic(case["annotation"], case["value"]),
                "with pydantic": answer["flowplan"]}  # fmt: skip
        for side, value in ours.items():
            if _outcome(value) != _outcome(theirs):
                found.append(f"x: {case['annotation']} = {case['value']!r} ({side}):"
                             f" flowplan {value!r}, Prefect {theirs!r}")  # fmt: skip
    return found


def _outcome(answer: Any) -> Any:
    """Refusals compare as refusals (their wording is not compared)."""
    return "refused" if isinstance(answer, list) and answer[:1] == ["error"] else answer


def test_what_a_flow_receives_equals_prefects_validate_parameters() -> None:
    batch = collect(cases(), COUNT)
    assert len(batch) > COUNT * 0.9
    found = differences(batch)
    assert not found, f"{len(found)} of {len(batch)} cases differ:\n" + "\n".join(found[:40])
