"""`WorkPoolJobConfiguration`: a pool's job configuration rendered for some job variables."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from flowplan.errors import InvalidInput
from flowplan.templating import apply_values

_KNOWN = ("command", "env", "labels", "name", "stream_output", "working_dir")


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
        variables (deployment, then run), merged as Prefect's worker merges them (see
        `template_values`). `{{ ctx.* }}` stays for the worker to fill in. The known fields are
        taken as rendered: `checked_fields` checks them once references are resolved."""
        configuration, values = template_values(base_job_template, *job_variables)
        rendered = apply_values(configuration, values, skip_prefixes=("ctx.",))
        known = {key: rendered.pop(key) for key in _KNOWN if key in rendered}
        return cls(**known, extra=rendered)


def template_values(
    base_job_template: Mapping[str, Any], *job_variables: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the job configuration to render, the values to render it with), as Prefect's worker
    makes them: the run's job variables over the deployment's (`env` merged key by key when the
    deployment's is a mapping); the variables' non-null defaults under those, dotted keys
    (`env.FOO`) expanded first and deep-merged under the plain ones; and a configuration whose
    `env` is a mapping gets the defaults' and then the job variables' `env` merged into it (one
    that is a placeholder is replaced by the default `env`, if there is one)."""
    configuration = copy.deepcopy(dict(base_job_template.get("job_configuration") or {}))
    properties = (base_job_template.get("variables") or {}).get("properties") or {}
    values = {
        key: schema["default"]
        for key, schema in properties.items()
        if isinstance(schema, Mapping) and schema.get("default") is not None
    }
    layered: dict[str, Any] = {}
    for layer in job_variables:
        layered = _over(layered, layer or {})
    if values.get("env"):
        env = configuration.get("env")
        configuration["env"] = (
            _union(env, values["env"]) if isinstance(env, dict) else values["env"]
        )
    values.update(_expand_dotted(layered))
    if isinstance(configuration.get("env"), dict) and values.get("env"):
        configuration["env"] = _union(configuration["env"], values["env"])
    return configuration, values


def _over(base: Mapping[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    merged, later = dict(base), dict(layer)
    if isinstance(merged.get("env"), dict) and "env" in later:
        env = later.pop("env")
        if isinstance(env, Mapping):
            merged["env"] = {**merged["env"], **env}
        elif env not in ("", []):
            raise InvalidInput(
                f"job variable env must be a mapping of names to values, not {type(env).__name__}"
            )
    merged.update(later)
    return merged


def _union(env: dict[str, Any], more: Any) -> dict[str, Any]:
    if not isinstance(more, dict):
        raise InvalidInput(
            f"job variable env must be a mapping of names to values, not {type(more).__name__}"
        )
    return {**env, **more}


def _expand_dotted(values: Mapping[str, Any]) -> dict[str, Any]:
    """`{"env.FOO": 1}` -> `{"env": {"FOO": 1}}`; a plain key's mapping is deep-merged over
    what dotted keys made of it (the plain key wins)."""
    result: dict[str, Any] = {}
    for key, value in values.items():
        if "." not in key:
            continue
        *path, last = key.replace("[", ".").replace("]", "").split(".")
        target = result
        for part in path:
            if not isinstance(target.setdefault(part, {}), dict):
                raise InvalidInput(f"job variable {key!r}: {part!r} is not a mapping")
            target = target[part]
        target[last] = value
    for key, value in values.items():
        if "." in key:
            continue
        if isinstance(result.get(key), dict) and isinstance(value, dict):
            result[key] = _deep_merge(result[key], value)
        else:
            result[key] = value
    return result


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


def checked_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The known fields of a rendered, resolved configuration as Prefect's worker takes them
    (its `ProcessJobConfiguration`): `command` text ("" is none), `env` a mapping whose values
    become text (None removes a variable; a mapping or list becomes JSON text), `labels` a
    mapping of text, `name` text, `stream_output` a boolean ("true", "yes", "1", ... read as
    one), `working_dir` a path. A value of another kind is refused, naming the field and the
    kind only (the value may hold a secret)."""
    result = dict(fields)

    def refuse(name: str, expected: str) -> InvalidInput:
        kind = "null" if result[name] is None else type(result[name]).__name__
        return InvalidInput(f"the run's job configuration: {name} must be {expected}, not {kind}")

    for name in ("command", "name", "working_dir"):
        if result.get(name) is not None and not isinstance(result[name], str):
            raise refuse(name, "text")
    if result.get("command") == "":
        result["command"] = None
    if isinstance(result.get("working_dir"), str):
        result["working_dir"] = str(PurePath(result["working_dir"]))
    if "env" in result:
        if not isinstance(result["env"], Mapping):
            raise refuse("env", "a mapping of names to values")
        result["env"] = {str(k): _env_text(v) for k, v in result["env"].items()}
    if "labels" in result:
        labels = result["labels"]
        if not isinstance(labels, Mapping) or not all(isinstance(v, str) for v in labels.values()):
            raise refuse("labels", "a mapping of names to text")
    if "stream_output" in result:
        result["stream_output"] = _boolean(result["stream_output"], refuse)
    return result


def _env_text(value: Any) -> str | None:
    """An environment value: text as it is, None kept (it removes the variable), numbers and
    booleans as Python writes them (`True`, as Prefect), a mapping or list as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _boolean(value: Any, refuse: Callable[[str, str], InvalidInput]) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise refuse("stream_output", "a boolean")
