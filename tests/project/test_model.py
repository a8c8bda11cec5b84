from __future__ import annotations

from typing import Any

import pytest

from flowplan.project.model import effective_actions, steps_of

TOP = {
    "build": [{"b.top": {}}],
    "push": [{"p.top": {}}],
    "pull": [{"l.top": {}}],
}
OWN = [{"own.step": {"id": "x", "requires": "pkg>=1", "arg": 1}}]
ABSENT = object()


def names(steps: tuple[Any, ...]) -> list[str]:
    return [step.function for step in steps]


@pytest.mark.parametrize(
    ("value", "build", "push", "pull", "explicit"),
    [
        (ABSENT, ["b.top"], ["p.top"], ["l.top"], False),
        (None, [], ["p.top"], ["l.top"], False),
        ([], [], ["p.top"], [], True),
        (OWN, ["own.step"], ["own.step"], ["own.step"], False),
    ],
)
def test_merge_rules_of_prefect_compat_1_6(
    value: object, build: list[str], push: list[str], pull: list[str], explicit: bool
) -> None:
    for action, expected in (("build", build), ("push", push), ("pull", pull)):
        deployment = {} if value is ABSENT else {action: value}
        result = effective_actions(TOP, deployment, ("deployments", 0))
        index = ("build", "push", "pull").index(action)
        assert names(result[index]) == expected, action
        if action == "pull":
            assert result[3] is explicit


def test_top_level_empty_pull_is_explicit() -> None:
    *_, pull, explicit = effective_actions({"pull": []}, {}, ("deployments", 0))
    assert pull == () and explicit is True
    *_, pull, explicit = effective_actions({"pull": None}, {}, ("deployments", 0))
    assert pull == () and explicit is False


def test_single_mapping_is_a_one_item_list_and_id_requires_are_split_off() -> None:
    [step] = steps_of(OWN[0], ("build",)) or ()
    assert step.function == "own.step"
    assert step.arguments == {"arg": 1}
    assert step.id == "x" and step.requires == ("pkg>=1",)
    assert step.path == ("build",)
    assert steps_of([None, {}, OWN[0]], ("build",))[0].path == ("build", 2)  # type: ignore[index]
