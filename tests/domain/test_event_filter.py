"""Prefect's EventFilter applied to one event (flowplan.domain.event_filter)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flowplan.domain.event_filter import filter_problems, matches
from flowplan.domain.events import Event

EVENT = Event(
    "e-1", datetime(2026, 12, 6, 12, 0, tzinfo=UTC), "prefect.flow-run.Completed",
    {"prefect.resource.id": "prefect.flow-run.r1", "prefect.resource.name": "run-one"},
    [{"prefect.resource.id": "prefect.deployment.d1", "prefect.resource.role": "deployment",
      "prefect.resource.name": "d"},
     {"prefect.resource.id": "prefect.tag.a", "prefect.resource.role": "tag"}],
)  # fmt: skip


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        (None, True),
        ({"event": {"prefix": ["prefect.flow-run."]}}, True),
        ({"event": {"prefix": ["prefect.deployment."]}}, False),
        ({"event": {"exclude_prefix": ["prefect.flow-run."]}}, False),
        ({"event": {"name": ["prefect.flow-run.Completed"]}}, True),
        ({"event": {"exclude_name": ["prefect.flow-run.Completed"]}}, False),
        ({"resource": {"id": ["prefect.flow-run.r1"]}}, True),
        ({"resource": {"id": ["prefect.deployment.d1"]}}, False),  # a related one
        ({"resource": {"id_prefix": ["prefect.flow-run."]}}, True),
        ({"resource": {"labels": {"prefect.resource.name": "run-*"}}}, True),
        ({"resource": {"labels": {"prefect.resource.name": "!run-*"}}}, False),
        ({"any_resource": {"id": ["prefect.deployment.d1"]}}, True),
        ({"any_resource": [{"id": ["prefect.deployment.d1"]}, {"id": ["prefect.tag.a"]}]}, True),
        ({"any_resource": [{"id": ["prefect.deployment.d1"]}, {"id": ["prefect.tag.b"]}]}, False),
        ({"related": {"role": ["deployment"], "labels": {"prefect.resource.name": "d"}}}, True),
        ({"related": {"role": ["deployment"], "labels": {"prefect.resource.name": "e"}}}, False),
        ({"related": {"resources_in_roles": [["prefect.tag.a", "tag"]]}}, True),
        ({"related": {"id": ["prefect.flow-run.r1"]}}, False),  # the event's own resource
        ({"id": {"id": []}}, True),
        ({"id": {"id": ["e-2"]}}, False),
        ({"occurred": {"since": "2026-12-06T11:59:00Z", "until": "2026-12-06T12:01:00Z"}}, True),
        ({"occurred": {"since": "2026-12-06T12:00:01+00:00"}}, False),
        ({"occurred": {"until": "2026-12-06T11:59:59"}}, False),  # naive: UTC
    ],
)
def test_matches(wanted: dict | None, expected: bool) -> None:
    assert matches(wanted, EVENT) is expected


def test_problems() -> None:
    assert filter_problems({"event": None, "text": None, "order": "DESC"}) == []
    assert filter_problems({"text": {"query": "x"}, "colour": 1}) == [
        "unknown filter field 'colour'", "flowplan does not filter events by text"]  # fmt: skip
    assert filter_problems([]) == ["the filter must be a JSON object"]
