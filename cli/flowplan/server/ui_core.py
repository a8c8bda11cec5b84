"""What the web UI's page modules share: the request they get, the answers they give, and the
route table they register in (`GET /runs/{id}` -> handler)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flowplan.server.ui_html import Safe, page, render

if TYPE_CHECKING:
    from flowplan.backends.local import LocalBackend


Planner = tuple[str, Callable[[], list[str]]]


@dataclass(frozen=True)
class UiRequest:
    backend: LocalBackend
    params: Mapping[str, str]
    query: Mapping[str, str]
    form: Mapping[str, str]
    csrf: str
    planner: Planner | None = None  # (the project's path, lines of its plan)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


def html_page(title: str, body: Safe, request: UiRequest, current: str = "",
              status: int = 200) -> Answer:  # fmt: skip
    return Answer(status, page(title, body, current=current).encode())


def redirect(location: str) -> Answer:
    """After a POST: 303 to the page that shows its effect."""
    return Answer(303, b"", headers=(("location", location),))


def not_found(request: UiRequest, what: str) -> Answer:
    return html_page("Not found", render('<p class="empty">{what}</p>', what=what), request,
                     status=404)  # fmt: skip


def offset_of(request: UiRequest) -> int:
    try:
        return max(0, int(request.query.get("offset", "0")))
    except ValueError:
        return 0


Handler = Callable[[UiRequest], Answer]


@dataclass
class UiRoutes:
    routes: list[tuple[str, re.Pattern[str], Handler]] = field(default_factory=list)

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append((method, re.compile(pattern), handler))
            return handler

        return register

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, Any]] | None:
        for wanted, pattern, handler in self.routes:
            found = pattern.fullmatch(path)
            if found and wanted == method:
                return handler, found.groupdict()
        return None


UUID = "[0-9a-fA-F-]{36}"
UI = UiRoutes()
