"""Webhooks (`webhooks:`, flowplan's extension) and the `{{ }}` of deployment triggers'
`parameters` and `job_variables`: a webhook template that cannot make an event is an error; a
trigger expression flowplan cannot render is a warning (Prefect would fail when it fires too,
but the file stays Prefect's to judge)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from flowplan.domain import event_template
from flowplan.domain.events import template_text, webhook_problems
from flowplan.findings import Finding, error, warning
from flowplan.project.model import Project

TRIGGER_ROOTS = frozenset({"event", "flow_run"})


def check(project: Project) -> Iterator[Finding]:
    hooks = project.data.get("webhooks")
    seen: set[str] = set()
    for index, hook in enumerate(hooks if isinstance(hooks, list) else ()):
        if not isinstance(hook, Mapping):
            continue
        name = hook.get("name")
        if isinstance(name, str):
            if name in seen:
                yield error("duplicate-webhook", f"webhook {name!r} is declared twice",
                            ("webhooks", index, "name"))  # fmt: skip
            seen.add(name)
        template = hook.get("template")
        if isinstance(template, str | dict):
            for problem in webhook_problems(template_text(template)):
                yield error("invalid-webhook-template", problem,
                            ("webhooks", index, "template"))  # fmt: skip
    for deployment in project.deployments:
        triggers = deployment.data.get("triggers")
        for number, trigger in enumerate(triggers if isinstance(triggers, list) else ()):
            if not isinstance(trigger, Mapping):
                continue
            for key in ("parameters", "job_variables"):
                path = (*deployment.path, "triggers", number, key)
                for problem in _value_problems(trigger.get(key)):
                    yield warning("trigger-template", problem, path)


def _value_problems(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _value_problems(item)
    elif isinstance(value, list):
        for item in value:
            yield from _value_problems(item)
    elif isinstance(value, str) and "{{" in value:
        for problem in event_template.check(value, TRIGGER_ROOTS):
            yield f"{problem}; flowplan's triggers render event and flow_run"
