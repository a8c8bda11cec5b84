"""Plans as values, as files and as text (plan/model.py, plan/planfile.py, plan/render.py)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from flowplan import __version__
from flowplan.errors import FlowplanError
from flowplan.plan import planfile
from flowplan.plan.comparable import digest
from flowplan.plan.model import Change, FieldChange, Plan
from flowplan.plan.render import changed, full, render, render_change, show

SECRET = "{{ prefect.blocks.secret.db-password }}"
TARGET = "local store /tmp/x.db"

PLAN = Plan(
    (
        Change("create", "work_pool", "gpu", (FieldChange("type", None, "process"),),
               after={"name": "gpu"}),
        Change("update", "work_queue", "gpu/q", (FieldChange("priority", 1, 2),),
               after={"pool": "gpu"}, target_id="q-1", fingerprint="f-1"),
        Change("update", "deployment", "etl/a", (
            FieldChange("description", "old", None),
            FieldChange("version", None, "2"),
            FieldChange("tags", ["a"], ["a", "b"]),
        ), after={"name": "a"}, target_id="d-1", fingerprint="f-2", drift=True),
        Change("noop", "deployment", "etl/b", target_id="d-2", fingerprint="f-3"),
        Change("delete", "deployment", "etl/c", target_id="d-3", fingerprint="f-4"),
    ),
    target=TARGET, project_hash="abc", warnings=("w1", "w2"),
)  # fmt: skip


# -- the plan value --------------------------------------------------------------------------------


def test_counts_and_summary() -> None:
    assert PLAN.counts() == {"create": 1, "update": 2, "delete": 1, "noop": 1}
    assert PLAN.summary() == "Plan: 1 to add, 2 to change, 1 to destroy."
    assert PLAN.has_changes and not Plan((PLAN.changes[3],)).has_changes


def test_a_plan_is_within_one_that_confirmed_each_of_its_results() -> None:
    a, b, c = (Change("create", "deployment", k, after={"v": 1}) for k in ("x", "y", "z"))
    confirmed = Plan(
        (a, b, Change("delete", "deployment", "old"), Change("noop", "deployment", "n"))
    )
    assert Plan((a,)).within(confirmed)
    assert Plan((Change("update", "deployment", "x", after={"v": 1}),)).within(confirmed)
    assert Plan((Change("delete", "deployment", "old"), Change("noop", "deployment", "q"))).within(
        confirmed
    )
    assert not Plan((c,)).within(confirmed)  # an object nobody confirmed
    assert not Plan((Change("create", "deployment", "x", after={"v": 2}),)).within(confirmed)
    assert not Plan((Change("delete", "deployment", "x"),)).within(confirmed)
    assert not Plan((Change("create", "work_pool", "x", after={"v": 1}),)).within(confirmed)
    assert not Plan((Change("update", "deployment", "n", after=None),)).within(confirmed)
    assert not Plan((Change("update", "deployment", "old", after=None),)).within(confirmed)
    assert Plan(()).within(Plan(()))


def test_key_order_does_not_matter_to_within() -> None:
    one = Change("create", "deployment", "x", after={"a": 1, "b": 2})
    other = Change("create", "deployment", "x", after={"b": 2, "a": 1})
    assert Plan((other,)).within(Plan((one,)))


def test_changes_round_trip_through_json() -> None:
    for change in PLAN.changes:
        assert Change.from_json(json.loads(json.dumps(change.to_json()))) == change
    assert PLAN.changes[2].to_json() == {
        "action": "update", "kind": "deployment", "key": "etl/a",
        "fields": [{"name": "description", "before": "old", "after": None},
                   {"name": "version", "before": None, "after": "2"},
                   {"name": "tags", "before": ["a"], "after": ["a", "b"]}],
        "after": {"name": "a"}, "target_id": "d-1", "fingerprint": "f-2", "drift": True,
    }  # fmt: skip


# -- plan files -----------------------------------------------------------------------------------


def test_a_saved_plan_loads_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    planfile.save(PLAN, path)
    loaded = planfile.load(path, TARGET)
    assert loaded == PLAN and loaded.warnings == ("w1", "w2")
    text = path.read_text(encoding="utf-8")
    assert text.startswith('{\n "format": 1,\n "flowplan_version": ') and text.endswith("}\n")
    data = json.loads(text)
    assert data["flowplan_version"] == __version__
    assert data["summary"] == PLAN.counts()
    assert data["checksum"] == digest({k: v for k, v in data.items() if k != "checksum"})


def test_a_plan_file_without_warnings_loads(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    planfile.save(Plan(PLAN.changes, TARGET, "abc"), path)
    assert planfile.load(path, TARGET).warnings == ()


def _resealed(data: dict[str, object]) -> str:
    data = {k: v for k, v in data.items() if k != "checksum"}
    return json.dumps({**data, "checksum": digest(data)})


def _saved(tmp_path: Path) -> dict[str, object]:
    planfile.save(PLAN, tmp_path / "good.json")
    data: dict[str, object] = json.loads((tmp_path / "good.json").read_text())
    return data


def _cases(tmp_path: Path) -> dict[str, tuple[bytes, str, str | None]]:
    good = _saved(tmp_path)
    edited = json.dumps({**good, "project_hash": "other"})
    return {
        "not utf-8": (b"\xff\xfe{", "{path} is not a plan file (not UTF-8 text)", None),
        "damaged": (b'{"format": 1', "the plan file {path} is damaged (truncated or not JSON:"
                    " Expecting ',' delimiter: line 1 column 13 (char 12))",
                    "make a new one with 'flowplan plan --out FILE'"),
        "newer": (json.dumps({**good, "format": 2}).encode(), "the plan file {path} was made by a"
                  " newer flowplan (format 2; this flowplan reads format 1)",
                  "apply it with the flowplan that made it, or plan again"),
        "not an object": (b"[]", "the plan file {path} is not valid: (top level): expected a"
                          " mapping, got a list", None),
        "a bad change": (_resealed({**good, "changes": [{"action": "create"}]}).encode(),
                         "the plan file {path} is not valid: changes.0: missing required"
                         " key 'kind'", None),
        "edited": (edited.encode(), "the plan file {path} was changed after it was saved;"
                   " refusing to apply it", "make a new one with 'flowplan plan --out FILE'"),
        "another target": (_resealed({**good, "target": "elsewhere"}).encode(), "the plan file"
                           " {path} was made for elsewhere, but this run targets " + TARGET, None),
    }  # fmt: skip


@pytest.mark.parametrize(
    "case",
    ["not utf-8", "damaged", "newer", "not an object", "a bad change", "edited", "another target"],
)
def test_a_bad_plan_file_is_refused_saying_why(tmp_path: Path, case: str) -> None:
    content, message, hint = _cases(tmp_path)[case]
    path = tmp_path / "plan.json"
    path.write_bytes(content)
    with pytest.raises(FlowplanError) as caught:
        planfile.load(path, TARGET)
    assert (caught.value.message, caught.value.hint) == (message.format(path=path), hint)


def test_a_missing_plan_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FlowplanError) as caught:
        planfile.load(tmp_path / "nope.json", TARGET)
    assert caught.value.message == (
        f"cannot read the plan file {tmp_path / 'nope.json'}: no such file"
    )


# -- plans as text --------------------------------------------------------------------------------


def test_a_plan_as_text() -> None:
    assert render(PLAN) == [
        "  + work pool 'gpu'",
        '      + type: "process"',
        "  ~ work queue 'gpu/q'",
        "      ~ priority: 1 -> 2",
        "  ~ deployment 'etl/a'  (changed outside flowplan since the last apply)",
        '      - description: "old"',
        '      + version: "2"',
        '      ~ tags: ["a"] -> ["a", "b"]',
        "  - deployment 'etl/c'",
        "",
        "Plan: 1 to add, 2 to change, 1 to destroy.",
    ]


def test_a_plan_with_nothing_to_do() -> None:
    assert render(Plan((PLAN.changes[3],))) == [
        "No changes. The target matches the project.", "", "Plan: 0 to add, 0 to change, 0 to destroy."
    ]  # fmt: skip


def test_a_created_pool_shows_every_field_as_added_even_a_null_one() -> None:
    change = Change("create", "work_pool", "p", (FieldChange("description", "x", None),))
    assert render_change(change) == ["  + work pool 'p'", "      + description: null"]


def test_a_created_deployment_shows_what_the_project_sets() -> None:
    path = "/src/project"
    fields = (
        FieldChange("entrypoint", None, "flows/a.py:a"), FieldChange("path", None, path),
        FieldChange("version", None, "0123456789abcdef0123456789abcdef"),
        FieldChange("labels", None, {"flowplan.dev/project": "p", "team": "x"}),
        FieldChange("description", None, None), FieldChange("triggers", None, []),
        FieldChange("enforce_parameter_schema", None, True),
        FieldChange("work_queue_name", None, "default"),
        FieldChange("pull_steps", None, [{
            "prefect.deployments.steps.set_working_directory": {"directory": path}}]),
        FieldChange("schedules[s]", None, {"schedule": {"interval": 60.0}, "parameters": {}}),
    )  # fmt: skip
    change = Change("create", "deployment", "a/d", fields, after={"path": path})
    assert render_change(change) == [
        "  + deployment 'a/d'",
        '      + entrypoint: "flows/a.py:a"',
        '      + labels: {"team": "x"}',
        '      + schedules[s]: {"interval": 60.0}',
        "      (not shown: 7 fields at their defaults; --output json shows every field)",
    ]
    own = (FieldChange("version", None, "1.2"), FieldChange("work_queue_name", None, "fast"),
           FieldChange("pull_steps", None, [{"x": 1}]),
           FieldChange("enforce_parameter_schema", None, False))  # fmt: skip
    assert render_change(Change("create", "deployment", "a/d", own, after={"path": path})) == [
        "  + deployment 'a/d'", '      + version: "1.2"', '      + work_queue_name: "fast"',
        '      + pull_steps: [{"x": 1}]', "      + enforce_parameter_schema: false",
    ]  # fmt: skip


def test_values_on_one_line_sorted_and_folded() -> None:
    assert show({"b": 1, "a": [date(2030, 1, 2)]}) == '{"a": ["2030-01-02"], "b": 1}'
    assert show("x" * 70) == json.dumps("x" * 70)  # 72 characters: fits
    long = "y" * 71
    assert show(long) == json.dumps(long)[:52] + "... (73 characters)"
    assert full({"b": 1, "a": date(2030, 1, 2)}) == '{"a": "2030-01-02", "b": 1}'
    assert full("z" * 200) == json.dumps("z" * 200)


def test_secret_references_are_never_shown() -> None:
    assert show(SECRET) == full(SECRET) == "(secret reference)"
    assert show(f"user:{SECRET}") == "(secret reference)"
    nested = {"env": {"PW": SECRET, "USER": "me"}, "args": [SECRET, "x"]}
    expected = (
        '{"args": ["(secret reference)", "x"], "env": {"PW": "(secret reference)", "USER": "me"}}'
    )
    assert full(nested) == expected
    assert show(nested) == expected[:52] + f"... ({len(expected)} characters)"
    assert show("{{ prefect.variables.x }}") == '"{{ prefect.variables.x }}"'


def test_a_change_that_fits_is_one_line() -> None:
    before, after = "a" * 43, "b" * 44  # the line is 100 characters
    assert changed("n", before, after, "") == [f'~ n: "{before}" -> "{after}"']
    assert changed("n", before, after + "c", "") == [
        "~ n:",
        f'    - "{before}"',
        f'    + "{after}c"',
    ]


def test_a_long_mapping_change_shows_the_keys_that_changed() -> None:
    before = {"same": "s" * 40, "old": 1, "edited": {"deep": "d" * 10, "k": 1}, "2": "x"}
    after = {"same": "s" * 40, "new": [1], "edited": {"deep": "d" * 10, "k": 2}, "2": "y"}
    assert changed("job_variables", before, after, "  ") == [
        "  ~ job_variables:",
        '      ~ 2: "x" -> "y"',
        "      ~ edited: " + full(before["edited"]) + " -> " + full(after["edited"]),
        "      + new: [1]",
        "      - old: 1",
    ]


def test_a_long_list_change_of_the_same_length_shows_the_items_that_changed() -> None:
    before = [{"a": "x" * 20}, "same", {"b": "y" * 50}]
    after = [{"a": "z" * 20}, "same", {"b": "y" * 50}]
    assert changed("pull_steps", before, after, "") == [
        "~ pull_steps:",
        f"    ~ [0]: {full(before[0])} -> {full(after[0])}",
    ]


def test_a_long_list_change_of_another_length_shows_both_whole() -> None:
    before, after = ["x" * 50], ["x" * 50, "y" * 50]
    assert changed("tags", before, after, "") == [
        "~ tags:", f"    - {full(before)}", f"    + {full(after)}"
    ]  # fmt: skip
    mixed = changed("v", {"a": "x" * 60}, ["y" * 60], "")
    assert mixed == ["~ v:", "    - " + full({"a": "x" * 60}), "    + " + full(["y" * 60])]
