"""`/api/openapi.json`: an OpenAPI 3.1 document of the routes this server serves, assembled from
the route table (paths, methods, summaries, path parameters), so it lists exactly them."""

from __future__ import annotations

import re
from typing import Any

from flowplan import __version__
from flowplan.server import compat
from flowplan.server.router import Router

_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")
_ERROR = {"description": "An error: `{\"detail\": ...}`",
          "content": {"application/json": {"schema": {"type": "object", "properties": {
              "detail": {}}}}}}  # fmt: skip


def document(router: Router) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in router.routes:
        path = "/api" + _PARAM.sub(lambda m: "{" + m.group(1) + "}", route.template)
        operation: dict[str, Any] = {
            "summary": route.summary,
            "operationId": f"{route.handler.__module__.rsplit('.', 1)[-1]}."
                           f"{route.handler.__name__}",
            "responses": {"200": {"description": "Success"}, "4XX": _ERROR},
        }  # fmt: skip
        parameters = [
            {"name": match.group(1), "in": "path", "required": True,
             "schema": {"type": "string", **({"format": "uuid"} if match.group(2) else {})}}
            for match in _PARAM.finditer(route.template)
        ]  # fmt: skip
        if parameters:
            operation["parameters"] = parameters
        if route.body:
            operation["requestBody"] = {"content": {"application/json": {"schema": {}}}}
        paths.setdefault(path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "flowplan server: Prefect's REST API for deployments and runs",
            "version": __version__,
            "description": f"Answers as Prefect {compat.PREFECT_VERSION} does on these routes;"
            " any other route answers 404.",
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
