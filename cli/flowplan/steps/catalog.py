"""What flowplan knows about built-in steps, read from the project schema.

The schema (`$defs.step.properties`) lists every accepted step name, Prefect's aliases included;
each points at the argument schema of its canonical step, which also declares the step's
outputs (`x-flowplan-outputs`) and its sensitive arguments (`x-flowplan-sensitive`).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from flowplan.resources import project_schema

# Namespaces whose functions flowplan knows completely: a name there that is not in the
# catalog is a typo, not a user-defined step.
CLOSED_NAMESPACES = (
    "prefect.deployments.steps.",
    "prefect.projects.steps.",
    "prefect_docker.deployments.steps.",
    "prefect_docker.projects.steps.",
)


@dataclass(frozen=True)
class StepInfo:
    name: str  # the name as written in the file
    canonical: str  # e.g. "git_clone"
    outputs: frozenset[str]
    sensitive: frozenset[str]


def default_pull(directory: str) -> list[dict[str, Any]]:
    """The pull steps of a deployment that declares none: change into `directory` (Prefect's
    default too)."""
    return [{"prefect.deployments.steps.set_working_directory": {"directory": directory}}]


@cache
def catalog() -> dict[str, StepInfo]:
    """Every accepted built-in step name (aliases included) -> what it is."""
    schema = project_schema()
    defs = schema["$defs"]
    known: dict[str, StepInfo] = {}
    for name, ref in defs["step"]["properties"].items():
        canonical = ref["$ref"].rsplit("/", 1)[-1]
        spec = defs[canonical]
        sensitive = frozenset(
            arg
            for arg, sub in spec.get("properties", {}).items()
            if sub.get("x-flowplan-sensitive")
        )
        outputs = frozenset(spec.get("x-flowplan-outputs", ()))
        known[name] = StepInfo(name, canonical, outputs, sensitive)
    return known


def lookup(name: str) -> StepInfo | None:
    return catalog().get(name)


def suggest(name: str) -> str | None:
    """The closest known step name, matching on the function name first."""
    names = list(catalog())
    by_function: dict[str, str] = {}
    for known in names:
        by_function.setdefault(known.rsplit(".", 1)[-1], known)
    function = name.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(function, list(by_function), 1, 0.6)
    if close:
        return by_function[close[0]]
    full = difflib.get_close_matches(name, names, 1, 0.6)
    return full[0] if full else None


_SENSITIVE_NAME = re.compile(r"token|password|passwd|secret|credential|api_?key", re.IGNORECASE)


def is_sensitive(step: str, argument: str) -> bool:
    """Marked in the step's schema, or, for steps flowplan does not know, named like a secret."""
    info = lookup(step)
    if info is not None and argument in info.sensitive:
        return True
    return _SENSITIVE_NAME.search(argument) is not None
