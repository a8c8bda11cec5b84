"""Rules for the names users give to pools, queues, flows, deployments, variables and secrets."""

from __future__ import annotations

import re

from flowplan.errors import InvalidInput

MAX_NAME = 255
MAX_VARIABLE_BYTES = 5000  # Prefect's limit on a variable's JSON value
_FORBIDDEN = frozenset("/%&<>")
_VARIABLE = re.compile(r"[A-Za-z0-9_-]+")


def check_name(kind: str, name: str) -> str:
    """Return `name` if it is a legal name for a `kind` (pool, queue, flow, deployment)."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{kind} name must not be empty")
    if name != name.strip():
        raise InvalidInput(f"{kind} name {name!r} must not start or end with spaces")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"{kind} name is {len(name)} characters long; at most {MAX_NAME}")
    bad = sorted({char for char in name if char in _FORBIDDEN or not char.isprintable()})
    if bad:
        shown = " ".join(repr(char) for char in bad)
        raise InvalidInput(
            f"{kind} name {name!r} contains {shown}",
            hint="names must not contain / % & < > or control characters",
        )
    return name


def check_key_name(kind: str, name: str) -> str:
    """Variables and secrets are referenced as `{{ prefect.variables.<name> }}`: no dots."""
    if not isinstance(name, str) or not _VARIABLE.fullmatch(name) or len(name) > MAX_NAME:
        raise InvalidInput(
            f"{kind} name {name!r} is not valid",
            hint="use letters, digits, '_' and '-' only (at most 255 characters)",
        )
    return name


def check_variable_value(name: str, value: object) -> str:
    """A variable's value as JSON text, refused when it is not JSON or too long."""
    import json

    from flowplan.domain.values import check_json

    check_json(f"variable {name!r}", value)
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"variable {name!r} must be a JSON value ({exc})") from None
    if len(text.encode()) > MAX_VARIABLE_BYTES:
        raise InvalidInput(
            f"variable {name!r} is {len(text.encode())} bytes as JSON;"
            f" at most {MAX_VARIABLE_BYTES} are allowed"
        )
    return text
