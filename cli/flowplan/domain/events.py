"""Events as Prefect has them: a name, the resource it is about (labels, with
`prefect.resource.id`), related resources (each with `prefect.resource.role`) and a payload;
and the rules that match them (resource specifications with `*` wildcards)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

MAX_LABEL = 1024  # characters of one resource label (longer ones are refused)
WEBHOOK_ROOTS = frozenset({"body", "headers", "query", "method"})


@dataclass(frozen=True)
class Event:
    id: str
    occurred: datetime
    event: str
    resource: dict[str, str]
    related: list[dict[str, str]] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)
    received: datetime | None = None
    seq: int = 0

    def as_json(self) -> dict[str, Any]:
        """The event as Prefect's API and templates show it."""
        return {
            "id": self.id,
            "occurred": self.occurred.isoformat(),
            "event": self.event,
            "resource": dict(self.resource),
            "related": [dict(item) for item in self.related],
            "payload": self.payload,
            "received": (self.received or self.occurred).isoformat(),
        }

    def related_id(self, role: str) -> str | None:
        for item in self.related:
            if item.get("prefect.resource.role") == role:
                return item.get("prefect.resource.id")
        return None


def name_matches(pattern: str, name: str) -> bool:
    """An event name against an `expect`/`after` entry: exact, or a prefix ending in `*`."""
    if pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    return name == pattern


def names_match(patterns: Sequence[str], name: str) -> bool:
    return any(name_matches(pattern, name) for pattern in patterns)


def _label_matches(expected: Any, actual: str | None) -> bool:
    options = expected if isinstance(expected, list) else [expected]
    positive = [str(o) for o in options if not str(o).startswith("!")]
    negative = [str(o)[1:] for o in options if str(o).startswith("!")]
    if actual is None:
        return not positive
    if any(name_matches(option, actual) for option in negative):
        return False
    return not positive or any(name_matches(option, actual) for option in positive)


def resource_matches(spec: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A resource specification (`match`): each label, one of its values (`*` wildcards, `!`
    negation)."""
    return all(_label_matches(expected, labels.get(key)) for key, expected in spec.items())


def related_matches(spec: Mapping[str, Any] | Sequence[Mapping[str, Any]], event: Event) -> bool:
    """`match_related`: each specification matched by one of the related resources."""
    specs = [spec] if isinstance(spec, Mapping) else list(spec)
    return all(
        any(resource_matches(one, related) for related in event.related) for one in specs if one
    )


# -- webhooks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Webhook:
    id: str
    name: str
    slug: str  # the secret part of its URL
    template: str
    description: str
    enabled: bool
    created: datetime

    def to_json(self) -> dict[str, Any]:
        """What plans compare and fingerprint (never the slug)."""
        return {"name": self.name, "template": self.template, "description": self.description,
                "enabled": self.enabled}  # fmt: skip


def template_text(template: Any) -> str:
    """A webhook's template as text: a mapping (from YAML) is written as JSON."""
    return template if isinstance(template, str) else json.dumps(template, ensure_ascii=False)


def webhook_problems(template: str) -> list[str]:
    """What makes a webhook template unusable, found without a request."""
    from flowplan.domain import event_template  # here: reading runs needs no templates

    problems = event_template.check(template, WEBHOOK_ROOTS)
    if problems:
        return problems
    try:
        sample = event_template.sample_json(template)
    except ValueError as exc:
        return [f"the template is not JSON once its {{{{ }}}} are filled in: {exc}"]
    whole = template.strip()
    if event_template.EXPRESSION.fullmatch(whole):
        return []  # e.g. {{ body|tojson }}: its shape is the request's
    return [f"the template {problem}" for problem in _shape_problems(sample)]


def _shape_problems(value: Any) -> list[str]:
    if not isinstance(value, dict):
        return ["must give a JSON object (with 'event' and 'resource')"]
    problems = []
    if "event" not in value:
        problems.append("gives no 'event' (the event's name)")
    resource = value.get("resource")
    if not isinstance(resource, dict) or "prefect.resource.id" not in resource:
        problems.append("gives no resource with a 'prefect.resource.id'")
    if "related" in value and not isinstance(value["related"], list):
        problems.append("gives 'related' that is not a list")
    if "payload" in value and not isinstance(value["payload"], dict | type(None)):
        problems.append("gives a 'payload' that is not an object")
    return problems


def request_context(method: str, headers: Mapping[str, str], query: str, raw: bytes,
                    content_type: str) -> dict[str, Any]:  # fmt: skip
    """What a webhook template sees: `method`, `headers` (lower-case names, no Authorization
    or Cookie), `query` (the query string's values), `body` (JSON, a form, or text)."""
    text = raw.decode("utf-8", errors="replace")
    body: Any = text
    if "application/x-www-form-urlencoded" in content_type:
        body = dict(parse_qsl(text, keep_blank_values=True))
    elif text.strip():
        try:
            body = json.loads(text)
        except ValueError:
            body = text
    shown = {key.lower(): value for key, value in headers.items()
             if key.lower() not in ("authorization", "cookie")}  # fmt: skip
    return {"method": method.upper(), "headers": _Headers(shown),
            "query": dict(parse_qsl(query, keep_blank_values=True)), "body": body}  # fmt: skip


class _Headers(dict):  # type: ignore[type-arg]
    """Headers read in any case (`headers['Content-Type']` is `headers['content-type']`)."""

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(str(key).lower(), default)


def webhook_event(rendered: Any, context: Mapping[str, Any], webhook_id: str,
                  webhook_name: str) -> tuple[str, dict[str, str], list[dict[str, str]],
                                              dict[str, Any]]:  # fmt: skip
    """The event a rendered template describes: name, resource, related (the webhook added),
    payload (the request's method, headers and body when the template gives none)."""
    from flowplan.domain import event_template

    problems = _shape_problems(rendered)
    if problems:
        raise event_template.TemplateError("; ".join(f"the rendered template {p}"
                                                     for p in problems))  # fmt: skip
    name = rendered["event"]
    if not isinstance(name, str) or not name.strip():
        raise event_template.TemplateError("the rendered template's 'event' is not a name")
    resource = _labels(rendered["resource"], "resource")
    related = [_labels(item, "related") for item in rendered.get("related") or []]
    related.append({"prefect.resource.id": f"prefect-cloud.webhook.{webhook_id}",
                    "prefect.resource.name": webhook_name,
                    "prefect.resource.role": "webhook"})  # fmt: skip
    payload = rendered.get("payload")
    if payload is None:
        payload = {"method": context["method"], "headers": dict(context["headers"]),
                   "body": context["body"]}  # fmt: skip
    return name, resource, related, payload


def _labels(value: Any, where: str) -> dict[str, str]:
    from flowplan.domain import event_template

    if not isinstance(value, dict):
        raise event_template.TemplateError(f"the rendered template's {where} is not an object")
    labels = {}
    for key, label in value.items():
        text = label if isinstance(label, str) else json.dumps(label)
        if len(text) > MAX_LABEL:
            raise event_template.TemplateError(
                f"the rendered template's {where} label {key!r} has more than {MAX_LABEL}"
                " characters")  # fmt: skip
        labels[str(key)] = text
    if not labels.get("prefect.resource.id"):
        raise event_template.TemplateError(f"the rendered template's {where} has an empty"
                                           " 'prefect.resource.id'")  # fmt: skip
    return labels
