"""The fast emitter of new entries (project/emit.py): what it writes reads back, with PyYAML
(what Prefect reads) and with flowplan's loader, as exactly the value it was given; and it lays
out lists and mappings in the columns ruamel would use, so saved files keep their style."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowplan.project.emit import Indent, lines, scalar
from flowplan.project.loader import load_text
from flowplan.project.save import _yaml, merged_text, quoted
from tests.project.test_pyyaml_parity import TRAPS

TRICKY = [*TRAPS, "", " lead", "trail ", "a: b", "a #b", "#c", "-d", "- e", "? f", "g:", "[h]",
          "{i}", "*j", "&k", "!l", "|m", ">n", "'o'", '"p"', "%q", "@r", "`s", "t\nu", "v\tw",
          "x\u2028y", "\u00e9t\u00e9", "\x00", "\ufeffz", "y", "n", "=", "<<", "0o7", "0x1f"]  # fmt: skip


def back(value: Any, indent: Indent = Indent()) -> tuple[Any, Any]:
    """`value` written as the `v` key of a document, read back by PyYAML and by flowplan."""
    text = "\n".join(lines({"v": value}, indent)) + "\n"
    ours = load_text(text, Path("t.yaml"), "t.yaml").data["v"]
    return yaml.safe_load(text)["v"], ours


@pytest.mark.parametrize("text", TRICKY)
def test_text_reads_back_as_the_same_text(text: str) -> None:
    assert back(text) == (text, text)
    assert back({text: [text]}) == ({text: [text]}, {text: [text]})


def test_plain_where_plain_reads_the_same() -> None:
    assert [scalar(v) for v in ("0 2 * * *", "flows/etl.py:etl", "Europe/Berlin", "a b")] == [
        "0 2 * * *", "flows/etl.py:etl", "Europe/Berlin", "a b"]  # fmt: skip
    assert [scalar(v) for v in ("yes", "1:30", "", "on", "0o7")] == [
        '"yes"', '"1:30"', '""', '"on"', '"0o7"']  # fmt: skip


@pytest.mark.parametrize("number", [0, -3, 10**20, 1.5, -0.0, 1e20, 1e-7, 3.0, math.inf, -math.inf])
def test_numbers_read_back_as_numbers_of_the_same_type(number: float) -> None:
    theirs, ours = back(number)
    assert (theirs, type(theirs)) == (number, type(number))
    assert (ours, type(ours)) == (number, type(number))
    theirs, ours = back(math.nan)
    assert math.isnan(theirs) and math.isnan(ours)


def test_the_columns_of_each_style() -> None:
    value = {"name": "x", "tags": ["a", "b"], "work_pool": {"name": "p", "env": {}},
             "schedules": [{"cron": "0 2 * * *", "parameters": {"k": [1, [2, 3]]}}],
             "pull": []}  # fmt: skip
    assert lines([value], Indent(2, 4, 2)) == [
        "- name: x",
        "  tags:",
        "    - a",
        "    - b",
        "  work_pool:",
        "    name: p",
        "    env: {}",
        "  schedules:",
        "    - cron: 0 2 * * *",
        "      parameters:",
        "        k:",
        "          - 1",
        "          - - 2",
        "            - 3",
        "  pull: []",
    ]
    # and each is what ruamel's round trip writes for the same value in that style (but for a
    # list right inside a list, where ruamel's columns are its own, and only reading back counts)
    value["schedules"][0]["parameters"] = {"k": [1, {"deep": [2, 3]}]}
    for original in (
        "deployments:\n- name: a\n",
        "deployments:\n  - name: a\n",
        "deployments:\n    -   name: a\n",
        "x:\n    y: 1\ndeployments:\n  - name: a\n",
    ):
        ours, _ = merged_text(original, [value], project_name="p")
        ruamel, data = _yaml(original)
        data["deployments"].append(quoted(value))
        stream = io.StringIO()
        ruamel.dump(data, stream)
        assert ours == stream.getvalue()


def test_a_flow_style_list_falls_back_to_ruamel() -> None:
    text, outcomes = merged_text("name: p\ndeployments: []\n", [{"name": "yes", "n": "1:30"}],
                                 project_name="p")  # fmt: skip
    assert outcomes == ["appended"]
    assert load_text(text, Path("t.yaml"), "t.yaml").data["deployments"] == [
        {"name": "yes", "n": "1:30"}]  # fmt: skip
    assert "flowplan-new-entry" not in text


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
    | st.sampled_from(TRICKY),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=6) | st.sampled_from(TRICKY), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(value=JSON, style=st.sampled_from([Indent(), Indent(2, 4, 2), Indent(4, 6, 4)]))
def test_any_json_value_reads_back_as_itself(value: Any, style: Indent) -> None:
    theirs, ours = back(value, style)
    assert theirs == value
    assert ours == value
