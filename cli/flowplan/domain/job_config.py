"""`WorkPoolJobConfiguration`: a pool's job configuration rendered for some job variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flowplan.templating import apply_values

_KNOWN = ("command", "env", "labels", "name", "stream_output", "working_dir")


def merge_job_variables(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Later layers win; `env` mappings are merged key by key; `env.FOO` keys are expanded."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            if "." in key:
                head, _, rest = key.partition(".")
                value, key = {rest: value}, head
            if key == "env" and isinstance(value, Mapping) and isinstance(merged.get("env"), dict):
                merged["env"] = {**merged["env"], **value}
            else:
                merged[key] = dict(value) if isinstance(value, Mapping) else value
    return merged


@dataclass(frozen=True)
class WorkPoolJobConfiguration:
    """What a worker needs to start one run: the known fields, plus `extra` for the rest of the
    pool type's configuration (image, namespace, job_manifest, ...)."""

    command: str | None = None
    env: dict[str, str | None] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    name: str | None = None
    stream_output: bool = True
    working_dir: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_template(
        cls, base_job_template: Mapping[str, Any], *job_variables: Mapping[str, Any] | None
    ) -> WorkPoolJobConfiguration:
        """Render `job_configuration` with the variables' defaults overlaid by each layer of job
        variables (deployment, then run). `{{ ctx.* }}` stays for the worker to fill in."""
        properties = (base_job_template.get("variables") or {}).get("properties") or {}
        defaults = {
            key: schema["default"]
            for key, schema in properties.items()
            if isinstance(schema, Mapping) and schema.get("default") is not None
        }
        values = merge_job_variables(defaults, *job_variables)
        rendered = apply_values(
            base_job_template.get("job_configuration") or {}, values, skip_prefixes=("ctx.",)
        )
        known = {key: rendered.pop(key) for key in _KNOWN if key in rendered}
        for key in ("env", "labels"):
            if known.get(key) is None:
                known.pop(key, None)
        if known.get("stream_output") is None:
            known.pop("stream_output", None)
        return cls(**known, extra=rendered)
