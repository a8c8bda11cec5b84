"""The `docker` worker type: each run in its own container, through the Docker SDK (Docker, or
podman's Docker API via `DOCKER_HOST`).

The container is configured from the pool's job configuration as Prefect's docker worker reads
it (`image`, `image_pull_policy`, `command`, `env`, `labels`, `name`, `networks`,
`network_mode`, `volumes`, `auto_remove`, `mem_limit`, `memswap_limit`, `privileged`,
`stream_output`, `container_create_kwargs`, `registry_credentials`); `container_settings` is
that mapping, a pure function (in `docker_config`; the started container's handle is in
`docker_container`). The engine in the container reports only through the reporting
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
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from flowplan.domain.job_config import WorkPoolJobConfiguration
from flowplan.domain.objects import FlowRun
from flowplan.errors import FlowplanError, UsageError
from flowplan.runtime.infrastructure import RunHandle
from flowplan.runtime.infrastructure.docker_config import (
    RUN_LABEL,
    container_settings,
    environment,
    pull_policy,
)
from flowplan.runtime.infrastructure.docker_container import ContainerHandle

PING_SECONDS = 10.0


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
        socket = address.rpartition(" ")[0].removeprefix("unix:") if address else None
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
            message = _explain(exc)  # (the stream's error: a FlowplanError with no hint)
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
