"""`/api/events/...`: read stored events with Prefect's `EventFilter` (`POST /events/filter`,
a page of at most 50, newest first unless `order` is `ASC`; `GET /events/filter/next` for the
next page). The websocket streams (`/events/out`, `/logs/out`) are in `streams.py`; a plain GET
of them is told to upgrade. Events are matched in Python over the filter's time window (by
default the last day, as Prefect's server)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from flowplan.domain import event_filter
from flowplan.domain.clock import iso, utcnow
from flowplan.server.router import ROUTER, ApiError, Request, invalid_body

if TYPE_CHECKING:
    from flowplan.backends.local import LocalBackend
    from flowplan.domain.events import Event

PAGE = 50  # Prefect's INTERACTIVE_PAGE_SIZE: the most one page holds
_BATCH = 1000  # events read from the store at once
_SLACK = timedelta(hours=1)  # how much earlier than received an event may say it occurred


def _window(wanted: dict[str, Any]) -> dict[str, Any]:
    """The filter with its `occurred` window filled in as Prefect's server fills it."""
    now = utcnow()
    occurred = dict(wanted.get("occurred") or {})
    occurred.setdefault("since", iso(now - timedelta(days=1)))
    occurred.setdefault("until", iso(now))
    return {**wanted, "occurred": occurred}


def _matching(backend: LocalBackend, wanted: dict[str, Any]) -> list[Event]:
    """The matching events, newest first."""
    since = event_filter.since(wanted)
    found: list[Event] = []
    before: int | None = None
    while True:
        batch = backend.read_events(limit=_BATCH, before_seq=before)
        found += [event for event in batch if event_filter.matches(wanted, event)]
        if len(batch) < _BATCH:
            return found
        before = batch[-1].seq
        oldest = batch[-1].received or batch[-1].occurred
        if since is not None and oldest < since - _SLACK:
            return found


def _page(backend: LocalBackend, request: Request, wanted: dict[str, Any], offset: int,
          limit: int) -> dict[str, Any]:  # fmt: skip
    found = _matching(backend, wanted)
    if str(wanted.get("order") or "DESC").upper() == "ASC":
        found.reverse()
    chosen = found[offset : offset + limit]
    following = None
    if offset + limit < len(found) and limit > 0:
        token = json.dumps({"filter": wanted, "offset": offset + limit, "limit": limit})
        encoded = quote(base64.b64encode(token.encode()).decode())
        following = f"http://{request.host}/api/events/filter/next?page-token={encoded}"
    return {
        "events": [{**event.as_json(), "follows": None} for event in chosen],
        "total": len(found),
        "next_page": following,
    }


def _checked(wanted: Any) -> dict[str, Any]:
    if wanted is not None and not isinstance(wanted, dict):
        raise invalid_body(wanted, ["filter"], "Input should be a valid dictionary", "dict_type")
    problems = event_filter.filter_problems(wanted)
    if problems:
        raise ApiError(501, "; ".join(problems))
    return _window(dict(wanted or {}))


@ROUTER.route("POST", "/events/filter", "Read events (Prefect's EventFilter)", body=True)
def filter_events(backend: LocalBackend, request: Request) -> Any:
    body = request.body if request.body is not None else {}
    if not isinstance(body, dict):
        raise invalid_body(body, [], "Input should be a valid dictionary", "dict_type")
    limit = body.get("limit", PAGE)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= PAGE:
        raise invalid_body(body, ["limit"], f"Input should be an integer from 0 to {PAGE}",
                           "less_than_equal")  # fmt: skip
    return _page(backend, request, _checked(body.get("filter")), 0, limit)


@ROUTER.route("GET", "/events/filter/next", "Read the next page of events")
def next_events(backend: LocalBackend, request: Request) -> Any:
    token = (parse_qs(request.query).get("page-token") or [""])[0]
    try:
        state = json.loads(base64.b64decode(token.encode(), validate=True))
        wanted, offset, limit = state["filter"], int(state["offset"]), int(state["limit"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ApiError(403, "Forbidden: not a page token of this server") from None
    return _page(backend, request, _checked(wanted), offset, min(max(limit, 0), PAGE))


@ROUTER.route("POST", "/events/count-by/{countable}", "Not served (501): counting events",
              body=True)  # fmt: skip
def count_events(backend: LocalBackend, request: Request) -> Any:
    raise ApiError(501, "flowplan's server does not count events: POST /api/events/filter"
                        " reads them, 'flowplan event ls' lists them")  # fmt: skip


for _stream in ("/events/out", "/logs/out"):

    @ROUTER.route("GET", _stream, "A websocket stream (Prefect's protocol)")
    def plain_get(backend: LocalBackend, request: Request) -> Any:
        raise ApiError(400, f"{request.path} is a websocket: send a websocket upgrade"
                            " (Prefect's client does)")  # fmt: skip
