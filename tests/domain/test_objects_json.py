"""A flow run's JSON form, written field by field, is what `dataclasses.asdict` gives (with the
state and times as text), for generated runs: nothing left out, nothing shared with the run."""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import UTC
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flowplan.domain import objects
from flowplan.domain.objects import FlowRun, State, StateType

_text = st.text(max_size=8)
_json: Any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=10,
)
_times = st.datetimes(timezones=st.just(UTC))
_maybe_text = st.none() | _text


def reference(run: FlowRun) -> dict[str, Any]:
    """The JSON form as `asdict` makes it."""
    data = asdict(run)
    _iso = objects._iso  # the store's time format
    data.update(state=run.state.to_json(), tags=list(run.tags), created=_iso(run.created),
                expected_start_time=_iso(run.expected_start_time),
                start_time=_iso(run.start_time), end_time=_iso(run.end_time))  # fmt: skip
    return data


runs = st.builds(
    FlowRun, _text, _text, _text, _text,
    st.builds(State, st.sampled_from(list(StateType)), _text, _times, _maybe_text),
    _times, _times, _maybe_text, _maybe_text, _maybe_text, _maybe_text,
    st.dictionaries(_text, _json, max_size=4), st.dictionaries(_text, _json, max_size=4),
    st.lists(_text, max_size=3).map(tuple), _maybe_text, st.booleans(),
    st.none() | _times, st.none() | _times,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(runs)
def test_a_runs_json_is_what_asdict_gives(run: FlowRun) -> None:
    data = run.to_json()
    assert data == reference(run)
    assert list(data) == [f.name for f in fields(FlowRun)]  # in field order
    assert FlowRun.from_json(data) == run
    data["parameters"]["added"] = 1  # a copy: the run keeps its own
    assert "added" not in run.parameters
