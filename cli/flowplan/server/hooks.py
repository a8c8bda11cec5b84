"""`/hooks/<slug>`: a webhook turns a request into an event, stored before the answer (204, as
Prefect Cloud answers; the event's id in `x-flowplan-event-id`). Reachable by its slug alone,
without the API token: the slug is the secret. A request the template cannot render is a 400
with the reason, also written to the server's log (the webhook's name, never its slug)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flowplan.domain import event_template
from flowplan.domain.events import request_context, webhook_event

if TYPE_CHECKING:
    from flowplan.backends.local import LocalBackend

PREFIX = "/hooks/"
MAX_BODY = 256 * 1024  # bytes; a larger body answers 413


@dataclass(frozen=True)
class HookAnswer:
    status: int
    detail: str | None = None
    event_id: str | None = None


def receive(
    backend: LocalBackend,
    method: str,
    slug: str,
    headers: Mapping[str, str],
    query: str,
    raw: bytes,
    on_event: Callable[[], None] | None = None,
) -> HookAnswer:
    webhook = backend.webhook_by_slug(slug)
    if webhook is None or not webhook.enabled:
        _log(f"{method} /hooks/<unknown slug> 404")
        return HookAnswer(404, "no webhook here")
    context = request_context(method, headers, query, raw, headers.get("content-type", ""))
    try:
        rendered = event_template.render_json(webhook.template, context)
        name, resource, related, payload = webhook_event(rendered, context, webhook.id,
                                                         webhook.name)  # fmt: skip
    except event_template.TemplateError as exc:
        _log(f"webhook {webhook.name!r}: 400 {exc}")
        return HookAnswer(400, f"webhook {webhook.name!r}: {exc}")
    event_id = backend.write_event(name, resource, related, payload)
    if on_event is not None:
        on_event()
    return HookAnswer(204, event_id=event_id)


def _log(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
