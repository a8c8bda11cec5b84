"""The route table: `(method, path template) -> handler`, with Prefect's path syntax
(`/deployments/{id:uuid}`, `/work_pools/{name}`). Handlers take the request and return a
`Reply` (or a JSON value, answered 200); they raise `ApiError` for a 4xx or 5xx."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

if TYPE_CHECKING:
    from flowplan.backends.local import LocalBackend

_UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")


class ApiError(Exception):
    """An answer other than success: `{"detail": ...}` with this status, as Prefect gives."""

    def __init__(self, status: int, detail: Any, *, payload: Any = None) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail
        self.payload = {"detail": detail} if payload is None else payload


def invalid_body(body: Any, location: list[str | int], message: str, kind: str) -> ApiError:
    """A body that does not fit the route's schema: 422 in the shape Prefect's server gives
    (`exception_message`, `exception_detail` as pydantic's errors, `request_body`)."""
    return ApiError(422, message, payload={
        "exception_message": "Invalid request received.",
        "exception_detail": [{"type": kind, "loc": ["body", *location], "msg": message}],
        "request_body": body,
    })  # fmt: skip


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: Mapping[str, str]
    body: Any = None
    query: str = ""  # the URL's query string
    host: str = ""  # the Host header (for links back to this server)


@dataclass(frozen=True)
class Reply:
    payload: Any = None
    status: int = 200


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Callable[[LocalBackend, Request], Any]
    summary: str
    body: bool  # the route reads a JSON body


@dataclass
class Router:
    routes: list[Route] = field(default_factory=list)

    def route(
        self, method: str, template: str, summary: str, *, body: bool = False
    ) -> Callable[[Callable[[LocalBackend, Request], Any]], Callable[[LocalBackend, Request], Any]]:
        def register(
            handler: Callable[[LocalBackend, Request], Any],
        ) -> Callable[[LocalBackend, Request], Any]:
            self.routes.append(Route(method, template, _compile(template), handler, summary,
                                     body))  # fmt: skip
            return handler

        return register

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed = []
        for route in self.routes:
            found = route.pattern.fullmatch(path)
            if found is None:
                continue
            if route.method == method:
                return route, {key: unquote(value) for key, value in found.groupdict().items()}
            allowed.append(route.method)
        if allowed:
            raise ApiError(405, f"{method} is not allowed on /api{path} (allowed: "
                                f"{', '.join(sorted(set(allowed)))})")  # fmt: skip
        raise ApiError(404, not_served("/api" + path))


def not_served(path: str) -> str:
    return (
        f"flowplan's server does not serve {path}: it serves Prefect's API for deployments,"
        " flows, flow runs, logs, work pools and queues, variables, and events (the routes are"
        " listed in /api/openapi.json)"
    )


def _compile(template: str) -> re.Pattern[str]:
    pattern, last = "", 0
    for found in _PARAM.finditer(template):
        name, kind = found.group(1), found.group(2)
        pattern += re.escape(template[last : found.start()])
        pattern += f"(?P<{name}>{_UUID if kind == 'uuid' else '[^/]+'})"
        last = found.end()
    return re.compile(pattern + re.escape(template[last:]))


ROUTER = Router()
