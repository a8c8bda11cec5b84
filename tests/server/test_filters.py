"""Prefect's filter, sort and page bodies applied to JSON objects (pure)."""

from __future__ import annotations

import pytest

from flowplan.server import filters

RUNS = [
    {"id": "a", "name": "amber-otter", "tags": ["x", "y"], "deployment_id": "d1",
     "expected_start_time": "2030-01-01T10:00:00.000000+00:00",
     "state": {"type": "SCHEDULED", "name": "Late"}},
    {"id": "b", "name": "brisk-newt", "tags": [], "deployment_id": None,
     "expected_start_time": "2030-01-02T10:00:00.000000+00:00",
     "state": {"type": "COMPLETED", "name": "Completed"}},
    {"id": "c", "name": "calm-ibis", "tags": ["y"], "deployment_id": "d1",
     "expected_start_time": "2030-01-03T10:00:00.000000+00:00",
     "state": {"type": "RUNNING", "name": "Running"}},
]  # fmt: skip


def ids(criteria: dict[str, object] | None) -> list[str]:
    return [item["id"] for item in filters.select(RUNS, criteria, "flow_runs")]


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        (None, ["a", "b", "c"]),
        ({"id": {"any_": ["a", "c", "zzz"]}}, ["a", "c"]),
        ({"id": {"not_any_": ["a"]}}, ["b", "c"]),
        ({"name": {"like_": "NEWT"}}, ["b"]),
        ({"tags": {"all_": ["x", "y"]}}, ["a"]),
        ({"tags": {"any_": ["y"]}}, ["a", "c"]),
        ({"tags": {"is_null_": True}}, ["b"]),
        ({"deployment_id": {"is_null_": False}}, ["a", "c"]),
        ({"state": {"type": {"any_": ["SCHEDULED", "RUNNING"]}}}, ["a", "c"]),
        ({"state": {"name": {"any_": ["Late"]}, "type": None}}, ["a"]),
        ({"expected_start_time": {"before_": "2030-01-02T10:00:00Z"}}, ["a", "b"]),
        ({"expected_start_time": {"after_": "2030-01-02T10:00:00+00:00"}}, ["b", "c"]),
        ({"operator": "or_", "name": {"like_": "amber"}, "id": {"any_": ["c"]}}, ["a", "c"]),
        ({"id": {"any_": None}, "name": None}, ["a", "b", "c"]),  # what Prefect's client sends
    ],
)
def test_criteria_select_what_prefects_server_selects(criteria: dict[str, object] | None,
                                                       expected: list[str]) -> None:  # fmt: skip
    assert ids(criteria) == expected


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        ({"nonsense": {"any_": [1]}}, "flow_runs.nonsense: flowplan cannot filter on 'nonsense'"),
        ({"id": {"regex_": "a"}}, "flow_runs.id: flowplan does not apply 'regex_'"),
        ({"operator": "xor_"}, "flow_runs.operator: expected 'and_' or 'or_', got 'xor_'"),
        ({"id": "a"}, "flow_runs.id: expected an object, got 'a'"),
        ({"expected_start_time": {"before_": "soon"}}, "'soon' is not a date and time"),
    ],
)
def test_a_filter_flowplan_cannot_apply_is_an_error_naming_the_part(
    criteria: dict[str, object], message: str
) -> None:
    with pytest.raises(filters.FilterError) as caught:
        ids(criteria)
    assert str(caught.value).startswith(message)


def test_sort_orders_by_the_named_field_with_missing_values_last() -> None:
    items = [
        {"id": "a", "end_time": None},
        {"id": "b", "end_time": "2"},
        {"id": "c", "end_time": "3"},
    ]
    assert [i["id"] for i in filters.sort(items, "END_TIME_DESC", "ID_DESC")] == ["c", "b", "a"]
    assert [i["id"] for i in filters.sort(items, None, "ID_DESC")] == ["c", "b", "a"]
    assert [i["id"] for i in filters.sort(items, "ID_ASC", "ID_DESC")] == ["a", "b", "c"]
    with pytest.raises(filters.FilterError, match="cannot sort by 'COLOUR_ASC'"):
        filters.sort(items, "COLOUR_ASC", "ID_DESC")


def test_pages_default_to_200_and_refuse_more() -> None:
    items = [{"id": str(n)} for n in range(250)]
    assert len(filters.page(items, {})) == 200
    assert [i["id"] for i in filters.page(items, {"limit": 2, "offset": 248})] == ["248", "249"]
    with pytest.raises(filters.FilterError, match="limit: expected a whole number from 0 to 200"):
        filters.page(items, {"limit": 201})
    with pytest.raises(filters.FilterError, match="offset: expected a whole number from 0"):
        filters.page(items, {"offset": -1})
