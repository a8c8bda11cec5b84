"""Event templates (webhooks, triggers' parameters) and the event-trigger rules, as pure
functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flowplan.domain.event_template import TemplateError, render_json, render_value
from flowplan.domain.events import (
    Event,
    request_context,
    resource_matches,
    webhook_event,
    webhook_problems,
)
from flowplan.domain.trigger_eval import on_clock, on_event, on_event_composite

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def event(name: str, resource: str = "r.1", at: float = 0, **related: str) -> Event:
    return Event(f"{name}-{resource}-{at}", T0 + timedelta(seconds=at), name,
                 {"prefect.resource.id": resource},
                 [{"prefect.resource.id": v, "prefect.resource.role": k}
                  for k, v in related.items()])  # fmt: skip


def context(body: bytes, content_type: str = "application/json", query: str = "") -> Any:
    headers = {"Content-Type": content_type, "Authorization": "Bearer x", "X-Id": "7"}
    return request_context("post", headers, query, body, content_type)


def test_the_request_as_a_template_sees_it() -> None:
    seen = context(b"a=1&b=two", "application/x-www-form-urlencoded", "q=3")
    assert seen["body"] == {"a": "1", "b": "two"} and seen["query"] == {"q": "3"}
    assert seen["method"] == "POST" and "authorization" not in seen["headers"]
    assert render_value("{{ headers['X-ID'] }}/{{ headers.x-id }}", seen) == "7/7"
    assert context(b"not json", "text/plain")["body"] == "not json"
    assert context(b'{"a": [1, 2]}', "text/plain")["body"] == {"a": [1, 2]}


def test_values_inside_json_strings_are_escaped_and_tojson_passes_values_through() -> None:
    seen = context(b'{"name": "a \\"quoted\\" name", "items": [1, {"k": null}]}')
    rendered = render_json('{"event": "x.{{ body.name }}", "n": {{ body.items|tojson }},'
                           ' "r": {"prefect.resource.id": "{{ body.items[1].k|default(\'d\') }}"}}',
                           seen)  # fmt: skip
    assert rendered == {"event": 'x.a "quoted" name', "n": [1, {"k": None}],
                        "r": {"prefect.resource.id": "None"}}  # fmt: skip
    assert render_json("{{ body|tojson }}", seen)["items"] == [1, {"k": None}]


@pytest.mark.parametrize(("template", "message"), [
    ('"{{ body.missing }}"', "{{ body.missing }}: body.missing has no value"),
    ('"{{ body.name|int }}"', "{{ body.name|int }}: int: invalid literal"),
    ("{{ body.name }}", "the template rendered text that is not JSON"),
])  # fmt: skip
def test_a_request_a_template_cannot_render_says_why(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as raised:
        render_json(template, context(b'{"name": "abc"}'))
    assert message in str(raised.value)


def test_default_fills_a_missing_value_and_a_whole_placeholder_keeps_its_type() -> None:
    seen = {"event": {"payload": {"n": 3, "tags": ["a"]}}}
    assert render_value({"n": "{{ event.payload.n }}", "s": "n={{ event.payload.n }}",
                         "d": "{{ event.payload.x|default(5) }}",
                         "l": ["{{ event.payload.tags }}"], "k": 1}, seen) == {
        "n": 3, "s": "n=3", "d": 5, "l": [["a"]], "k": 1}  # fmt: skip


def test_webhook_template_problems_are_found_without_a_request() -> None:
    assert webhook_problems('{"event": "e", "resource": {"prefect.resource.id": "{{ body.id }}"}}'
                            ) == []  # fmt: skip
    assert webhook_problems("{{ body|tojson }}") == []
    assert webhook_problems('{"event": "e", "resource": {"id": "x"}}') == [
        "the template gives no resource with a 'prefect.resource.id'"
    ]
    assert webhook_problems('{"event": "{{ body|nope }}"}') == [
        "{{ body|nope }}: unknown filter 'nope' (known: default, float, int, lower, string,"
        " tojson, upper)"]  # fmt: skip


def test_the_webhook_is_related_and_the_payload_defaults_to_the_request() -> None:
    seen = context(b'{"a": 1}')
    name, resource, related, payload = webhook_event(
        {"event": "e", "resource": {"prefect.resource.id": "r", "n": 2}}, seen, "w1", "hook"
    )
    assert (name, resource) == ("e", {"prefect.resource.id": "r", "n": "2"})
    assert related == [
        {
            "prefect.resource.id": "prefect-cloud.webhook.w1",
            "prefect.resource.name": "hook",
            "prefect.resource.role": "webhook",
        }
    ]
    assert payload["body"] == {"a": 1} and payload["method"] == "POST"
    with pytest.raises(TemplateError, match=r"empty 'prefect\.resource\.id'"):
        webhook_event({"event": "e", "resource": {"prefect.resource.id": ""}}, seen, "w", "h")


def test_resource_specifications_match_with_wildcards_lists_and_negation() -> None:
    labels = {"prefect.resource.id": "shop.order.7", "kind": "paid"}
    assert resource_matches({"prefect.resource.id": "shop.order.*"}, labels)
    assert resource_matches({"kind": ["refunded", "paid"]}, labels)
    assert not resource_matches({"kind": "!paid"}, labels)
    assert not resource_matches({"missing": "x"}, labels)
    assert resource_matches({}, labels)


def fire(trigger: dict[str, Any], events: list[Event]) -> list[str]:
    buckets: dict[str, Any] = {}
    return [f.key for e in events for f in on_event(trigger, buckets, e)]


def test_reactive_threshold_within_and_for_each() -> None:
    trigger = {"expect": ["e"], "threshold": 2, "within": 10, "for_each": ["prefect.resource.id"]}
    assert fire(trigger, [event("e", "a", 0), event("e", "b", 1), event("e", "a", 5)]) == [
        "e-a-5"]  # fmt: skip
    assert fire(trigger, [event("e", "a", 0), event("e", "a", 11), event("e", "a", 12)]) == [
        "e-a-12"]  # the first fell out of the window  # fmt: skip
    assert fire({"expect": ["e.*"]}, [event("e.x"), event("f.x")]) == ["e.x-r.1-0"]
    assert fire({}, [event("anything")]) == ["anything-r.1-0"]


def test_reactive_after_and_match_related() -> None:
    trigger = {"after": ["start"], "expect": ["done"],
               "match_related": {"prefect.resource.role": "deployment"}}  # fmt: skip
    events = [event("done", deployment="d"), event("start", at=1, deployment="d"),
              event("done", at=2, deployment="d"), event("done", at=3, deployment="d"),
              event("start", at=4), event("done", at=5, flow="f")]  # fmt: skip
    assert fire(trigger, events) == ["done-r.1-2"]  # re-armed only by a related start


def test_proactive_fires_when_too_few_came_within_the_window() -> None:
    trigger = {"posture": "Proactive", "after": ["start"], "expect": ["done"], "within": 10,
               "for_each": ["prefect.resource.id"]}  # fmt: skip
    buckets: dict[str, Any] = {}
    for e in [event("start", "a"), event("start", "b", 1), event("done", "b", 2)]:
        assert on_event(trigger, buckets, e) == []
    assert on_clock(trigger, buckets, T0 + timedelta(seconds=9)) == []
    fired = on_clock(trigger, buckets, T0 + timedelta(seconds=11))
    assert [(f.key, f.reason) for f in fired] == [
        ("start-a-0", "Proactive: 0 of 1 done within 10 s after start")]  # fmt: skip
    assert on_clock(trigger, buckets, T0 + timedelta(seconds=30)) == [] and buckets == {}


def test_proactive_without_after_watches_each_window() -> None:
    trigger = {"posture": "Proactive", "expect": ["beat"], "within": 5,
               "for_each": ["prefect.resource.id"]}  # fmt: skip
    buckets: dict[str, Any] = {}
    assert on_clock(trigger, buckets, T0) == []  # the first window opens
    on_event(trigger, buckets, event("beat", at=1))
    assert on_clock(trigger, buckets, T0 + timedelta(seconds=5)) == []
    fired = on_clock(trigger, buckets, T0 + timedelta(seconds=10))
    assert [f.key for f in fired] == [f"window {(T0 + timedelta(seconds=5)).isoformat()}"]


def composite(trigger: dict[str, Any], events: list[Event]) -> list[str]:
    state: dict[str, Any] = {}
    return [f.reason for e in events for f in on_event_composite(trigger, state, e)]


def test_compound_triggers_need_their_share_of_children_within_the_window() -> None:
    children = [{"expect": ["a"]}, {"expect": ["b"]}, {"expect": ["c"]}]
    both = {"type": "compound", "require": "all", "triggers": children[:2], "within": 10}
    assert composite(both, [event("a"), event("a", at=1), event("b", at=2)]) == [
        "Compound: 2 of 2 triggers, the last on b"]  # fmt: skip
    assert composite(both, [event("a"), event("b", at=11)]) == []  # a fell out of the window
    two = {"type": "compound", "require": 2, "triggers": children}
    assert len(composite(two, [event("c"), event("a", at=1), event("b", at=2)])) == 1
    anyone = {"type": "compound", "require": "any", "triggers": children}
    assert len(composite(anyone, [event("c"), event("x"), event("b")])) == 2


def test_sequence_triggers_need_their_children_in_order() -> None:
    steps = {
        "type": "sequence",
        "within": 60,
        "triggers": [{"expect": ["build"]}, {"expect": ["test"]}, {"expect": ["ship"]}],
    }
    assert composite(steps, [event("test"), event("build", at=1), event("ship", at=2)]) == []
    assert composite(steps, [event("build"), event("test", at=1), event("ship", at=2)]) == [
        "Sequence: 3 of 3 triggers, the last on ship"]  # fmt: skip


def test_a_resource_s_id_name_and_role_read_as_prefect_s_resource_objects_give_them() -> None:
    seen = {"event": event("e", "shop.order.7", deployment="prefect.deployment.1").as_json()}
    assert render_value("{{ event.resource.id }}", seen) == "shop.order.7"
    assert render_value("{{ event.related[0].role }}", seen) == "deployment"
    assert render_value("{{ event.resource['prefect.resource.id'] }}", seen) == "shop.order.7"
