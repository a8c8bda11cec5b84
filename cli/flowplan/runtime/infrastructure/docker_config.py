"""The `docker` worker's container, configured from the pool's job configuration as Prefect's
docker worker reads it (`image`, `image_pull_policy`, `command`, `env`, `labels`, `name`,
`networks`, `network_mode`, `volumes`, `auto_remove`, `mem_limit`, `memswap_limit`,
`privileged`, `stream_output`, `container_create_kwargs`, `registry_credentials`). Pure: the
Docker SDK's `containers.create` arguments, the pull policy, labels, names."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

from flowplan.domain.job_config import WorkPoolJobConfiguration
from flowplan.domain.objects import FlowRun
from flowplan.errors import FlowplanError

SOCKET = "/run/flowplan/reporter.sock"  # where a run's container finds the reporting channel
ENGINE = ["python", "-m", "flowplan.runtime.engine"]
RUN_LABEL = "io.flowplan.flow-run-id"
PULL_POLICIES = ("IfNotPresent", "Always", "IfPossible", "Never")
# Fields the worker sets itself: `container_create_kwargs` cannot override them.
_OWN = frozenset({
    "image", "command", "environment", "labels", "name", "network", "network_mode", "volumes",
    "mem_limit", "memswap_limit", "privileged", "auto_remove", "detach", "working_dir",
})  # fmt: skip
_MODES = frozenset({"ro", "rw", "z", "Z", "shared", "slave", "private", "rshared", "rslave",
                    "rprivate", "nocopy", "consistent", "cached", "delegated"})  # fmt: skip


def environment(run: FlowRun, config: WorkPoolJobConfiguration) -> dict[str, str]:
    """The job's `env` (a null value removes a variable), then the run's id; output unbuffered
    unless the job says otherwise (so that it streams)."""
    env = {"PYTHONUNBUFFERED": "1", **config.env}
    env.update(FLOWPLAN_FLOW_RUN_ID=run.id, PREFECT__FLOW_RUN_ID=run.id)
    return {key: value for key, value in env.items() if value is not None}


def container_settings(
    config: WorkPoolJobConfiguration, run: FlowRun, env: Mapping[str, str], socket: str | None
) -> dict[str, Any]:
    """The Docker SDK's `containers.create` arguments for `run` (plus `networks`, the ones
    connected after creation, and `auto_remove`, which the worker carries out itself).
    `socket`: the worker's reporting socket on this machine, mounted at `SOCKET`."""
    extra = config.extra
    image = extra.get("image")
    if not isinstance(image, str) or not image.strip():
        raise FlowplanError(
            "the docker worker needs an image: set job variable 'image' to an image with"
            " Python and flowplan installed",
            hint="e.g. -jv image=my-registry/flows:v1, or job_variables: {image: ...}",
        )
    environment_ = dict(env)
    volumes = _volumes(extra.get("volumes"))
    if socket is not None:
        volumes.append(f"{socket}:{SOCKET}")
        address = environment_.get("FLOWPLAN_REPORTER", "")
        if address.startswith("unix:"):
            token = address.rpartition(" ")[2]  # the path may hold spaces, the token none
            environment_["FLOWPLAN_REPORTER"] = f"unix:{SOCKET} {token}"
    networks = _strings(extra.get("networks"), "networks")
    network_mode = _optional_text(extra.get("network_mode"), "network_mode")
    if networks and network_mode:
        raise FlowplanError(
            "job variables 'networks' and 'network_mode' cannot both be set (Docker attaches"
            " a container either to networks or in a network mode)"
        )
    settings: dict[str, Any] = {
        "image": image.strip(),
        "command": shlex.split(config.command) if config.command else [*ENGINE, run.id],
        "environment": environment_,
        "labels": {**docker_labels(config.labels), **run_labels(run)},
        "name": container_name(config.name or run.name),
        "volumes": volumes,
        "mem_limit": _memory(extra.get("mem_limit"), "mem_limit"),
        "memswap_limit": _memory(extra.get("memswap_limit"), "memswap_limit", swap=True),
        "privileged": _flag(extra.get("privileged"), "privileged"),
        "detach": True,
    }
    if networks:
        settings["network"] = networks[0]
    if network_mode:
        settings["network_mode"] = network_mode
    if config.working_dir:
        settings["working_dir"] = config.working_dir
    more = extra.get("container_create_kwargs") or {}
    if not isinstance(more, Mapping):
        raise FlowplanError(
            f"job variable 'container_create_kwargs' must be a mapping, not {more!r}"
        )
    settings.update({key: value for key, value in more.items() if key not in _OWN})
    for key in ("mem_limit", "memswap_limit"):
        if settings[key] is None:
            del settings[key]
    return {**settings, "networks": networks[1:],
            "auto_remove": _flag(extra.get("auto_remove"), "auto_remove")}  # fmt: skip


def pull_policy(image: str, policy: object) -> str:
    """Prefect's (and Kubernetes') default: `Always` for `latest` or no tag, else
    `IfNotPresent`."""
    if policy is None or policy == "":
        name = image.rsplit("/", 1)[-1]
        if "@" in name:
            return "IfNotPresent"
        tag = name.partition(":")[2]
        return "Always" if tag in ("", "latest") else "IfNotPresent"
    if policy not in PULL_POLICIES:
        raise FlowplanError(
            f"job variable 'image_pull_policy': {policy!r} is not one of {', '.join(PULL_POLICIES)}"
        )
    return str(policy)


def docker_labels(labels: Mapping[str, Any]) -> dict[str, str]:
    """Prefect's conversion: `prefect.io/flow-run-id` becomes `io.prefect.flow-run-id`."""
    converted = {}
    for name, value in (labels or {}).items():
        key = str(name)
        if "/" in key:
            namespace, _, rest = key.partition("/")
            key = ".".join(reversed(namespace.split("."))) + "." + rest
        converted[key] = "" if value is None else str(value)
    return converted


def run_labels(run: FlowRun) -> dict[str, str]:
    labels = {RUN_LABEL: run.id, "io.flowplan.flow-run-name": run.name,
              "io.flowplan.flow-name": run.flow_name}  # fmt: skip
    if run.deployment_name:
        labels["io.flowplan.deployment-name"] = run.deployment_name
    if run.work_pool_name:
        labels["io.flowplan.work-pool-name"] = run.work_pool_name
    return labels


def container_name(name: str) -> str | None:
    """A name Docker accepts (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`), as Prefect slugifies it; None
    when nothing of it is left."""
    slug = re.sub(r"[^a-zA-Z0-9_.-]+", "-", name)[:250].lstrip("_-.").rstrip("-")
    return slug if len(slug) >= 2 else None


def _volumes(value: object) -> list[str]:
    volumes = _strings(value, "volumes")
    for index, volume in enumerate(volumes):
        parts = volume.split(":")
        modes = parts[2].split(",") if len(parts) == 3 else []
        if (
            len(parts) not in (2, 3)
            or not parts[0]
            or not parts[1].startswith("/")
            or any(mode not in _MODES for mode in modes)
        ):
            raise FlowplanError(
                f"job variable 'volumes[{index}]': {volume!r} is not"
                " 'host-path-or-volume:/container/path[:mode]'"
                + (f" (mode {parts[2]!r} is not one of ro, rw, z, Z, ...)" if modes else "")
            )
    return volumes


def _strings(value: object, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise FlowplanError(f"job variable {name!r} must be a list of strings, not {value!r}")
    return list(value)


def _optional_text(value: object, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise FlowplanError(f"job variable {name!r} must be a string, not {value!r}")
    return value


def _flag(value: object, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise FlowplanError(f"job variable {name!r} must be true or false, not {value!r}")
    return value


def _memory(value: object, name: str, *, swap: bool = False) -> str | None:
    text = _optional_text(None if value is None else str(value), name)
    if text is None:
        return None
    if not re.fullmatch(r"\d+[bkmgBKMG]?", text) and not (swap and text == "-1"):
        raise FlowplanError(
            f"job variable {name!r}: {text!r} is not a size like 100000b, 1000k, 128m or 1g"
            + (" (or -1: no swap limit)" if swap else "")
        )
    return text
