"""The `docker` worker type: each run in its own container, through the Docker SDK (Docker, or
podman's Docker API via `DOCKER_HOST`).

The container is configured from the pool's job configuration as Prefect's docker worker reads
it (`image`, `image_pull_policy`, `command`, `env`, `labels`, `name`, `networks`,
`network_mode`, `volumes`, `auto_remove`, `mem_limit`, `memswap_limit`, `privileged`,
`stream_output`, `container_create_kwargs`, `registry_credentials`); `container_settings` is
that mapping, a pure function. The engine in the container reports only through the reporting
channel: the worker's Unix socket is bind-mounted into the container at `SOCKET`, and the run's
`FLOWPLAN_REPORTER` names it there (no store, no network needed). The container needs the
engine on the worker's own machine for that mount.

A run's environment is what Prefect's docker worker gives: the job's `env` and the run's id,
not the worker's own environment. Its output is read from the container's log stream; its exit
status becomes its state; cancelling stops the container (SIGTERM, the grace period, SIGKILL).
`auto_remove` removes the container once its output is read and its exit known (the engine's
own auto-removal could race the log reader). Containers carry `io.flowplan.flow-run-id`; those
of runs that ended CRASHED (a dead worker's) are removed by `reap`, which every docker worker
calls at start and after each crash-detection pass.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from flowplan.domain.job_config import WorkPoolJobConfiguration
from flowplan.domain.objects import FlowRun
from flowplan.errors import FlowplanError, UsageError
from flowplan.runtime.infrastructure import Exit, RunHandle

SOCKET = "/run/flowplan/reporter.sock"  # where a run's container finds the reporting channel
ENGINE = ["python", "-m", "flowplan.runtime.engine"]
RUN_LABEL = "io.flowplan.flow-run-id"
PULL_POLICIES = ("IfNotPresent", "Always", "IfPossible", "Never")
PING_SECONDS = 10.0
# Fields the worker sets itself: `container_create_kwargs` cannot override them.
_OWN = frozenset({
    "image", "command", "environment", "labels", "name", "network", "network_mode", "volumes",
    "mem_limit", "memswap_limit", "privileged", "auto_remove", "detach", "working_dir",
})  # fmt: skip
_MODES = frozenset({"ro", "rw", "z", "Z", "shared", "slave", "private", "rshared", "rslave",
                    "rprivate", "nocopy", "consistent", "cached", "delegated"})  # fmt: skip


# -- the job configuration (pure) ------------------------------------------------------------


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
            token = address.partition(" ")[2]
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


# -- the container -----------------------------------------------------------------------------


class ContainerHandle:
    """One run's container: its log stream, its end (one waiter thread), stopping it."""

    def __init__(self, client: Any, stream_client: Any, container: Any, remove: bool) -> None:
        self._client, self._stream_client = client, stream_client
        self.container = container
        self.name = str(container.name)
        self._remove = remove
        self._exit: Exit | None = None
        self._done = threading.Event()
        self._stream: Any = None
        self._lock = threading.Lock()
        self._released = False
        threading.Thread(target=self._wait, name=f"flowplan-container {self.name}",
                         daemon=True).start()  # fmt: skip

    @property
    def id(self) -> str:
        return f"container {self.name} ({str(self.container.id)[:12]})"

    def lines(self) -> Iterator[str]:
        import docker.errors

        with self._lock:
            if self._released:
                return
            try:
                self._stream = self._stream_client.logs(
                    self.container.id, stream=True, follow=True, stdout=True, stderr=True
                )
            except (docker.errors.DockerException, OSError):
                return
            stream = self._stream
        buffer = b""
        with contextlib.suppress(Exception):  # closed by release(), or the engine went away
            for chunk in stream:
                *complete, buffer = (buffer + chunk).split(b"\n")
                for line in complete:
                    yield line.decode("utf-8", errors="replace").rstrip("\r")
        if buffer:
            yield buffer.decode("utf-8", errors="replace")

    def _wait(self) -> None:
        import docker.errors
        import requests.exceptions

        failures = 0
        while True:
            try:
                result = self._stream_client.wait(self.container.id)
                code = int(result.get("StatusCode", -1))
                break
            except requests.exceptions.ReadTimeout:
                continue
            except docker.errors.NotFound:
                self._finish(Exit(-1, f"Container {self.name!r} was removed before it ended"))
                return
            except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
                failures += 1
                if failures >= 3:
                    reason = f"Lost the Docker engine while container {self.name!r} ran: {exc}"
                    self._finish(Exit(-1, reason))
                    return
                self._done.wait(1.0)
        self._finish(Exit(code, None if code == 0 else self._describe(code)))

    def _describe(self, code: int) -> str:
        reason = f"Container {self.name!r} exited with status code {code}"
        with contextlib.suppress(Exception):
            state = self._client.api.inspect_container(self.container.id)["State"]
            if state.get("OOMKilled"):
                return reason + " (killed: out of memory, see job variable mem_limit)"
        if code > 128:
            with contextlib.suppress(ValueError):
                import signal

                reason += f" (killed by {signal.Signals(code - 128).name})"
        return reason

    def _finish(self, exit: Exit) -> None:
        if exit.code == 0 and exit.reason is None:
            exit = Exit(0, f"Container {self.name!r} exited with status code 0 before"
                           " reporting a final state")  # fmt: skip
        self._exit = exit
        self._done.set()

    def wait(self, timeout: float | None = None) -> Exit | None:
        return self._exit if self._done.wait(timeout) else None

    def terminate(self, grace: float) -> None:
        with contextlib.suppress(Exception):  # gone already: nothing to stop
            self._stream_client.stop(self.container.id, timeout=max(round(grace), 0))

    def end_leftovers(self, grace: float) -> None:
        """Nothing outlives a container's first process: the engine ends them all with it."""

    def leftovers(self) -> bool:
        return False  # see end_leftovers

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self._client.api.kill(self.container.id)

    def release(self) -> None:
        with self._lock:
            self._released = True
            stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()
        if self._done.is_set():
            if self._remove:
                with contextlib.suppress(Exception):
                    self._client.api.remove_container(self.container.id, force=True)
            with contextlib.suppress(Exception):
                self._stream_client.close()


class DockerInfrastructure:
    pool_type = "docker"

    def __init__(self) -> None:
        self._client: Any = None
        self.say: Callable[[str], None] = lambda text: None

    def prepare(self, say: Callable[[str], None]) -> None:
        self.say = say
        self._client = _connect()

    def environment(self, run: FlowRun, config: WorkPoolJobConfiguration) -> dict[str, str]:
        return environment(run, config)

    def launch(
        self, run: FlowRun, config: WorkPoolJobConfiguration, env: Mapping[str, str]
    ) -> RunHandle:
        import docker.errors

        client = self._client if self._client is not None else _connect()
        address = env.get("FLOWPLAN_REPORTER", "")
        socket = address.partition(" ")[0].removeprefix("unix:") if address else None
        if socket:
            _reachable_by_any_user(socket)
        settings = container_settings(config, run, env, socket)
        networks, remove = settings.pop("networks"), settings.pop("auto_remove")
        image = settings["image"]
        try:
            self._pull(client, image, pull_policy(image, config.extra.get("image_pull_policy")),
                       config.extra.get("registry_credentials"))  # fmt: skip
            container = self._create(client, settings)
            try:
                for network in networks:
                    client.networks.get(network).connect(container)
                container.start()
            except BaseException:
                with contextlib.suppress(Exception):  # created, never started: not kept
                    container.remove(force=True)
                raise
            return ContainerHandle(client, _stream_client(client), container, remove)
        except docker.errors.ImageNotFound as exc:
            raise FlowplanError(f"image {image!r} not found: {_explain(exc)}") from None
        except docker.errors.APIError as exc:
            raise FlowplanError(f"the Docker engine refused the run's container: "
                                f"{_explain(exc)}") from None  # fmt: skip
        except (docker.errors.DockerException, OSError) as exc:
            raise FlowplanError(f"cannot reach the Docker engine: {exc}") from None

    def _pull(self, client: Any, image: str, policy: str, credentials: object) -> None:
        import docker.errors

        if policy == "Never":
            try:
                client.images.get(image)
            except docker.errors.ImageNotFound:
                raise FlowplanError(
                    f"image {image!r} is not on the Docker engine, and image_pull_policy is Never"
                ) from None
            return
        if policy == "IfNotPresent":
            try:
                client.images.get(image)
                return
            except docker.errors.ImageNotFound:
                pass
        try:
            if isinstance(credentials, Mapping) and credentials.get("username"):
                client.login(
                    username=credentials["username"], password=credentials.get("password"),
                    registry=credentials.get("registry_url"),
                    reauth=bool(credentials.get("reauth")),
                )  # fmt: skip
            self.say(f"Pulling image {image!r}...")
            repository, tag = _split(image)
            for line in client.api.pull(repository, tag=tag, stream=True, decode=True):
                if isinstance(line, dict) and line.get("error"):
                    raise FlowplanError(str(line["error"]))
        except (FlowplanError, docker.errors.DockerException) as exc:
            message = exc.message if isinstance(exc, FlowplanError) else _explain(exc)
            if policy == "IfPossible":
                try:
                    client.images.get(image)
                    return
                except docker.errors.ImageNotFound:
                    pass
            raise FlowplanError(
                f"image {image!r} could not be pulled ({message.strip()})"
                + (" and is not on the Docker engine" if policy != "Always" else "")
            ) from None

    def _create(self, client: Any, settings: dict[str, Any]) -> Any:
        import docker.errors

        name = settings.pop("name")
        for index in range(100):
            candidate = name if index == 0 or name is None else f"{name}-{index}"
            try:
                return client.containers.create(name=candidate, **settings)
            except docker.errors.APIError as exc:
                taken = exc.status_code == 409 or "already in use" in str(exc)
                if not (name is not None and taken):
                    raise
        raise FlowplanError(f"no free container name like {name!r}")

    def reap(self, crashed: Callable[[Sequence[str]], Collection[str]]) -> None:
        """Remove the containers of runs that ended CRASHED (their worker died, or the
        container did): `crashed` says which of these runs did."""
        import docker.errors

        client = self._client
        if client is None:
            return
        try:  # listed only: inspecting each would fail for one removed meanwhile
            found = client.api.containers(all=True, filters={"label": RUN_LABEL})
        except (docker.errors.DockerException, OSError) as exc:
            self.say(f"Could not list the containers of crashed runs: {exc}")
            return
        by_run = {str((item.get("Labels") or {}).get(RUN_LABEL)): item for item in found}
        for run_id in crashed([run_id for run_id in by_run if run_id != "None"]):
            item = by_run[run_id]
            name = str((item.get("Names") or [item["Id"]])[0]).lstrip("/")
            try:
                client.api.remove_container(item["Id"], force=True)
            except (docker.errors.DockerException, OSError):
                continue  # gone already, or removed by another worker
            self.say(f"Removed container {name} of crashed flow run {run_id}.")

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


def _connect() -> Any:
    """A client for the engine at DOCKER_HOST, answering now; else a clear error."""
    import docker

    host = os.environ.get("DOCKER_HOST") or "the default socket (/var/run/docker.sock)"
    try:
        client = docker.from_env(timeout=int(PING_SECONDS))
        client.ping()
    except Exception as exc:  # DockerException, ConnectionError, FileNotFoundError, ...
        raise UsageError(
            f"the docker worker cannot reach a Docker engine at DOCKER_HOST={host}:"
            f" {type(exc).__name__}: {_explain(exc)}",
            hint="start Docker or 'podman system service', and set DOCKER_HOST to its socket",
        ) from None
    client.api.timeout = 120  # creating a container copies the image on some storage drivers
    return client


def _stream_client(client: Any) -> Any:
    """A client of its own for a run's log stream and its wait: both block for as long as the
    run lasts, which the shared client's timeout and connection pool are not for."""
    import docker
    from docker.utils import kwargs_from_env

    return docker.APIClient(**kwargs_from_env(), version=client.api.api_version, timeout=3600)


def _reachable_by_any_user(socket: str) -> None:
    """The container's user may not be root: let it connect. The socket's directory stays
    private to the worker's user on this machine; each run's token admits only that run."""
    with contextlib.suppress(OSError):
        Path(socket).chmod(0o666)


def _split(image: str) -> tuple[str, str | None]:
    if "@" in image:
        return image, None
    head, _, name = image.rpartition("/")
    if ":" in name:
        name, _, tag = name.partition(":")
        return f"{head}/{name}" if head else name, tag
    return image, "latest"


def _explain(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    text = explanation.decode() if isinstance(explanation, bytes) else explanation
    return str(text or exc).strip()
