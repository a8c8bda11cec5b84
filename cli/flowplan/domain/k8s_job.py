"""The Kubernetes Job a deployment on a `kubernetes` work pool would submit, rendered offline.

Follows Prefect's kubernetes worker: the pool's `job_configuration` is filled with the variables'
defaults overlaid by the deployment's job variables, merged as every Prefect worker merges them
(`job_config.template_values`), then the worker's own touches are applied to
`job_manifest` (env as a list of `{name, value}`, the eviction setting, slugified labels on the
Job and its pod, the default image, `args` split like a shell, `generateName` from the name).
What only a flow run knows (its id and name, the API URL) is left out.

Every part of the manifest a job variable produced is remembered (`RenderedJob.origin`), so that
a problem found in the Job can be reported at the job variable that caused it.
"""

from __future__ import annotations

import copy
import re
import shlex
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flowplan.domain.job_config import template_values
from flowplan.errors import InvalidInput
from flowplan.findings import Path_
from flowplan.templating import apply_values, has_placeholder, path_parts, walk_placeholders

DEFAULT_IMAGE = "prefecthq/prefect:3-latest"  # Prefect's worker uses the image of its version
DEFAULT_ARGS = ["prefect", "flow-run", "execute"]  # Prefect's base flow-run command
EVICTION_ENV = "PREFECT_FLOW_RUN_EXECUTE_SIGTERM_BEHAVIOR"
CONTAINER = ("spec", "template", "spec", "containers", 0)


@dataclass
class RenderedJob:
    """A Job manifest, where its parts came from, and what could not be rendered."""

    manifest: dict[str, Any]
    # manifest path -> the job-variable path that produced it (`("env", "FOO")`)
    origins: dict[Path_, Path_] = field(default_factory=dict)
    # manifest paths whose origin is the whole of it (an env item made from `env.FOO`)
    exact: set[Path_] = field(default_factory=set)
    # manifest paths whose value is not known offline (a placeholder left for later)
    unknown: set[Path_] = field(default_factory=set)
    # problems found while rendering: (job-variable path or None for the template, message)
    problems: list[tuple[Path_ | None, str]] = field(default_factory=list)

    def origin(self, path: Path_) -> Path_ | None:
        """The job-variable path behind the manifest value at `path` (nearest known part)."""
        for cut in range(len(path), -1, -1):
            found = self.origins.get(path[:cut])
            if found is not None:
                return found if path[:cut] in self.exact else (*found, *path[cut:])
        return None

    def is_unknown(self, path: Path_) -> bool:
        return any(path[:cut] in self.unknown for cut in range(len(path) + 1))


def slug(text: str, pattern: str, max_length: int, lowercase: bool = True) -> str:
    """Prefect's slugify as its kubernetes worker calls it: ASCII only, runs of characters
    outside `pattern` become one dash, trimmed of dashes, cut to `max_length`."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    if lowercase:
        ascii_text = ascii_text.lower()
    cleaned = re.sub(r"-{2,}", "-", re.sub(pattern, "-", ascii_text)).strip("-")
    return cleaned[:max_length].strip("-")


def label_key(key: str) -> str:
    prefix, _, name = key.partition("/") if "/" in key else ("", "", key)
    name_slug = slug(name, r"[^a-zA-Z0-9-_.]+", 63, lowercase=False).strip("_-.")
    if prefix:
        prefix_slug = slug(prefix, r"[^a-zA-Z0-9-\.]+", 253).strip("_-.")
        return f"{prefix_slug}/{name_slug}"
    return name_slug


def label_value(value: str) -> str:
    return slug(value, r"[^a-zA-Z0-9-_\.]+", 63, lowercase=False).strip("_-.") or value


def job_name(name: str) -> str | None:
    return slug(name, r"[^a-zA-Z0-9-]+", 45) or None


def render_job(
    template: Mapping[str, Any],
    job_variables: Mapping[str, Any] | None,
    labels: Mapping[str, str] | None = None,
    unknown_text: tuple[str, ...] = (),
) -> RenderedJob:
    """The Job for a deployment's job variables on a pool with `template` (its base job
    template). `labels` are what the worker adds for the deployment (its name, its flow's,
    the pool's); text holding one of `unknown_text` (a plan's "known after build") is not
    known yet, like a placeholder. Never raises for odd templates or values: they become
    `problems`."""
    try:
        configuration, values = template_values(template, job_variables)
    except InvalidInput as exc:  # env not a mapping under a mapping, a dotted key's clash
        where = ("env",) if exc.message.startswith("job variable env ") else None
        return RenderedJob({}, problems=[(where, exc.message)])
    try:
        rendered = apply_values(configuration, values, skip_prefixes=("ctx.",), resolve_env=False)
    except ValueError as exc:
        return RenderedJob({}, problems=[(None, f"cannot render the job configuration: {exc}")])
    manifest = rendered.get("job_manifest")
    if not isinstance(manifest, dict):
        return RenderedJob({}, problems=[(None, "the template's job_configuration has no"
                                                " job_manifest mapping")])  # fmt: skip
    job = RenderedJob(copy.deepcopy(manifest))
    for path, placeholder in walk_placeholders(configuration.get("job_manifest"), ()):
        if placeholder.kind == "output" and path_parts(placeholder.name)[0] in values:
            job.origins.setdefault(path, tuple(path_parts(placeholder.name)))
    _finish(job, rendered, dict(labels or {}))
    _mark_unknown(job.manifest, (), job.unknown, unknown_text)
    return job


def not_known(value: Any, unknown_text: tuple[str, ...] = ()) -> bool:
    """Text whose value is known only later: a placeholder, or one of `unknown_text`."""
    return has_placeholder(value) or (
        isinstance(value, str) and any(text in value for text in unknown_text)
    )


def _mark_unknown(
    value: Any, path: Path_, unknown: set[Path_], unknown_text: tuple[str, ...]
) -> None:
    if not_known(value, unknown_text):
        unknown.add(path)
    elif isinstance(value, dict):
        for key, item in value.items():
            _mark_unknown(item, (*path, key), unknown, unknown_text)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _mark_unknown(item, (*path, index), unknown, unknown_text)


def _container(manifest: dict[str, Any]) -> dict[str, Any] | None:
    current: Any = manifest
    for part in CONTAINER:
        if isinstance(part, int):
            current = current[part] if isinstance(current, list) and current else None
        else:
            current = current.get(part) if isinstance(current, dict) else None
        if current is None:
            return None
    return current if isinstance(current, dict) else None


def _finish(job: RenderedJob, configuration: dict[str, Any], labels: dict[str, str]) -> None:
    """What Prefect's worker does to the rendered manifest before it creates the Job."""
    manifest = job.manifest
    metadata = manifest.setdefault("metadata", {})
    if not isinstance(metadata, dict):
        job.problems.append((None, "the Job's metadata is not a mapping"))
        return
    namespace = configuration.get("namespace") or "default"
    if "namespace" not in metadata:
        metadata["namespace"] = namespace
        if "namespace" in configuration:
            job.origins[("metadata", "namespace")] = ("namespace",)
    container = _container(manifest)
    if container is None:
        job.problems.append((None, "the Job manifest has no spec.template.spec.containers[0]"
                                   " (Prefect's worker refuses it)"))  # fmt: skip
        return
    _env(job, configuration, container)
    _labels(job, metadata, configuration.get("labels"), labels)
    container.setdefault("image", DEFAULT_IMAGE)
    _args(job, container)
    generate = metadata.get("generateName") or ""
    if not generate or has_placeholder(generate) or generate in ("-", "None-"):
        name = configuration.get("name")
        prefix = job_name(name) if isinstance(name, str) else None
        metadata["generateName"] = f"{prefix or 'prefect-job'}-"
        if prefix:
            job.origins[("metadata", "generateName")] = ("name",)
    pod = manifest["spec"]["template"]
    pod_metadata = pod.setdefault("metadata", {})
    if isinstance(pod_metadata, dict):
        pod_labels = pod_metadata.get("labels")
        pod_labels = pod_labels if isinstance(pod_labels, dict) else {}
        pod_metadata["labels"] = {**pod_labels, **metadata["labels"]}
        for key in metadata["labels"]:
            origin = job.origins.get(("metadata", "labels", key))
            if origin:
                job.origins[("spec", "template", "metadata", "labels", key)] = origin
                job.exact.add(("spec", "template", "metadata", "labels", key))


def _env(job: RenderedJob, configuration: dict[str, Any], container: dict[str, Any]) -> None:
    env = configuration.get("env")
    at = (*CONTAINER, "env")
    items: list[tuple[Path_ | None, dict[str, Any]]] = []
    if env is None:
        env = {}
    if isinstance(env, Mapping):
        items = [(("env", str(k)), {"name": str(k), "value": None if v is None else str(v)})
                 for k, v in env.items()]  # fmt: skip
    elif isinstance(env, list):
        items = [(("env", i), item) for i, item in enumerate(env)]
    else:
        kind = type(env).__name__
        message = f"env must be a mapping of names to values (or a list of items), got {kind}"
        job.problems.append((("env",), message))
    names = {item.get("name") for _, item in items if isinstance(item, dict)}
    backoff = job.manifest.get("spec", {}).get("backoffLimit")
    if EVICTION_ENV not in names:
        items.append((None, {"name": EVICTION_ENV,
                             "value": "reschedule" if backoff == 0 else "relinquish"}))  # fmt: skip
    written = container.get("env")
    if isinstance(written, list):  # hard-coded in the template: kept after the variables' ones
        items += [(None, item) for item in written
                  if not (isinstance(item, dict) and item.get("name") in names)]  # fmt: skip
    container["env"] = [item for _, item in items]
    for key in [p for p in job.origins if p[: len(at)] == at]:
        del job.origins[key]
    for index, (origin, _) in enumerate(items):
        if origin is not None:
            job.origins[(*at, index)] = origin
            job.exact.add((*at, index))


def _labels(
    job: RenderedJob, metadata: dict[str, Any], configured: Any, added: dict[str, str]
) -> None:
    written = metadata.get("labels")
    written = written if isinstance(written, dict) else {}
    mine = configured if isinstance(configured, dict) else {}
    merged = {**written, **added, **mine}
    result: dict[str, Any] = {}
    for key, value in merged.items():
        slug_key = label_key(str(key))
        result[slug_key] = label_value(value) if isinstance(value, str) else value
        if key in mine:
            job.origins[("metadata", "labels", slug_key)] = ("labels", str(key))
            job.exact.add(("metadata", "labels", slug_key))
    for key in [p for p in job.origins if p[:2] == ("metadata", "labels") and len(p) == 2]:
        del job.origins[key]
    metadata["labels"] = result


def _args(job: RenderedJob, container: dict[str, Any]) -> None:
    args = container.get("args")
    if args is None:
        container["args"] = list(DEFAULT_ARGS)
    elif isinstance(args, str):
        try:
            container["args"] = shlex.split(args)
        except ValueError as exc:
            job.problems.append((("command",), f"command cannot be split into arguments: {exc}"))
            job.unknown.add((*CONTAINER, "args"))  # said once, not again by the schema
    elif not isinstance(args, list):
        job.problems.append((("command",), "command must be text or a list"))
