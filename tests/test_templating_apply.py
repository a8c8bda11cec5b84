"""apply_values: PREFECT-COMPAT section 3.2 and the behaviours 71-75 of section 10."""

from __future__ import annotations

import pytest

from flowplan.templating import NOTSET, apply_values, lookup


def test_whole_placeholders_keep_their_type_and_missing_ones_drop_the_key() -> None:
    template = {"last_name": "{{last_name}}", "age": "{{age}}"}
    assert apply_values(template, {"age": 30}) == {"age": 30}
    assert apply_values(template, {"age": 30}, remove_notset=False) == {
        "last_name": "{{last_name}}",
        "age": 30,
    }


def test_embedded_placeholders_become_text() -> None:
    assert apply_values("Bob {{last_name}}", {}) == "Bob "
    assert apply_values("Bob {{last_name}}", {}, remove_notset=False) == "Bob {{last_name}}"
    assert apply_values("{{a}} - {{b}}", {}) == " - "
    assert apply_values("n={{ n }}", {"n": 3}) == "n=3"


def test_environment_values_are_always_text() -> None:
    environ = {"PORT": "8080"}
    assert apply_values("{{ $PORT }}", {}, environ=environ) == "8080"
    assert apply_values("{{ $MISSING_ENV_VAR }}", {}, environ=environ) == ""
    assert apply_values("x{{ $MISSING }}", {}, remove_notset=False, environ={}) == "x{{ $MISSING }}"


def test_paths_with_indexes_and_step_ids_with_dashes() -> None:
    values = {"people": [{"name": "clark"}], "build-image": {"image": "repo/x:1"}}
    assert apply_values("{{ people[0].name }}", values) == "clark"
    assert apply_values("{{ people.0.name }}", values) == "clark"
    assert apply_values("{{ build-image.image }}", values) == "repo/x:1"
    assert apply_values("{{ people }}", values) == [{"name": "clark"}]
    assert lookup(values, "people[3].name") is NOTSET


def test_lists_drop_missing_items_and_scalars_pass_through() -> None:
    assert apply_values(["{{ a }}", 1, None, True, 2.5], {}) == [1, None, True, 2.5]


def test_skipped_prefixes_blocks_and_variables_are_left_alone() -> None:
    template = {
        "name": "{{ ctx.flow_run.name }}",
        "secret": "{{ prefect.blocks.secret.token }}",
        "var": "x-{{ prefect.variables.region }}",
    }
    assert apply_values(template, {}, skip_prefixes=("ctx.",)) == template


def test_missing_names_are_reported() -> None:
    missing: list[str] = []
    apply_values({"a": "{{ wrong }}", "b": "x{{ also }}"}, {}, on_missing=missing.append)
    assert missing == ["wrong", "also"]


def test_other_types_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot template a value of type set"):
        apply_values({"a": {1, 2}}, {})
