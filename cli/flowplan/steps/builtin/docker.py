"""`build_docker_image` and `push_docker_image` through the Docker SDK, against any engine that
speaks Docker's API (Docker, or podman's service), chosen by DOCKER_HOST."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flowplan import masking
from flowplan.errors import StepExecutionError
from flowplan.steps.builtin import images


def default_tag(now: datetime | None = None) -> str:
    """Prefect's default: the slugified UTC time of the build."""
    moment = (now or datetime.now(UTC)).isoformat()
    return re.sub(r"[^a-z0-9]+", "-", moment.lower()).strip("-")


_ENGINE_SETTINGS = ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")
_clients: dict[tuple[str | None, ...], Any] = {}


def client() -> Any:
    """A client of the engine the environment names, checked with a ping. Made once per
    process and engine: making one asks the engine its API version, which podman answers in
    one to two seconds."""
    import docker

    host = os.environ.get("DOCKER_HOST", "the default socket (/var/run/docker.sock)")
    key = tuple(os.environ.get(name) for name in _ENGINE_SETTINGS)
    try:
        engine = _clients.get(key) or docker.from_env()
        engine.ping()
        _clients[key] = engine
    except Exception as exc:  # the SDK raises DockerException, ConnectionError, FileNotFoundError
        raise StepExecutionError(
            f"no Docker engine answers at DOCKER_HOST={host}: {type(exc).__name__}",
            hint="start Docker or 'podman system service', and set DOCKER_HOST to its socket",
        ) from None
    return engine


def build_docker_image(
    image_name: str,
    dockerfile: str = "Dockerfile",
    tag: str | None = None,
    additional_tags: Iterable[str] | None = None,
    ignore_cache: bool = False,
    persist_dockerfile: bool = False,
    dockerfile_output_path: str = "Dockerfile.generated",
    base_image: str | None = None,
    install_flowplan: bool = True,
    **build_kwargs: Any,
) -> dict[str, Any]:
    """Build `image_name:tag` from the current directory, unless the engine already has an
    image of the same build digest (then it is only tagged); errors carry the build log's tail.

    `dockerfile: auto` generates one from `base_image` (default: see images.default_base_image)
    with flowplan installed from wheels (unless `install_flowplan` is false) and the project."""
    if not image_name or any(char.isspace() for char in image_name):
        raise ValueError(f"image_name {image_name!r} must not be empty or contain spaces")
    tag = tag or default_tag()
    engine = client()
    root = Path.cwd()
    if dockerfile == "auto":
        if (root / "Dockerfile").exists():
            raise ValueError("Dockerfile already exists.")
        context = images.auto_context(root, base_image or images.default_base_image(),
                                      install_flowplan)  # fmt: skip
        if persist_dockerfile:
            Path(dockerfile_output_path).write_text(context.dockerfile_text(), encoding="utf-8")
    else:
        context = images.user_context(root, dockerfile)
    built = images.build(engine, context, f"{image_name}:{tag}", build_kwargs, ignore_cache)
    image = engine.images.get(built.reference)
    extra = list(additional_tags or ())
    for other in extra:
        image.tag(image_name, other)
    return {"image_name": image_name, "tag": tag, "image": built.reference,
            "image_id": built.image_id, "additional_tags": extra}  # fmt: skip


def push_docker_image(
    image_name: str,
    tag: str | None = None,
    credentials: Mapping[str, Any] | None = None,
    additional_tags: Iterable[str] | None = None,
    ignore_cache: bool = False,
) -> dict[str, Any]:
    """Push every tag; an error event inside the push stream is an error, not a success."""
    engine = client()
    if credentials:
        masking.register(credentials.get("password"))
        try:
            engine.login(
                username=credentials.get("username"),
                password=credentials.get("password"),
                registry=credentials.get("registry_url"),
                reauth=bool(credentials.get("reauth")),
            )
        except Exception as exc:
            raise StepExecutionError(f"docker login failed: {masking.clean(str(exc))}") from None
    extra = list(additional_tags or ())
    for each in [tag, *extra]:
        try:
            for event in engine.images.push(image_name, tag=each, stream=True, decode=True):
                if "error" in event or "errorDetail" in event:
                    detail = event.get("error") or event["errorDetail"].get("message", "")
                    raise StepExecutionError(
                        f"push of {image_name}:{each} failed: {masking.clean(str(detail))}"
                    )
        except StepExecutionError:
            raise
        except Exception as exc:
            raise StepExecutionError(
                f"push of {image_name}:{each} failed: {masking.clean(str(exc))}"
            ) from None
    return {"image_name": image_name, "tag": tag, "image": f"{image_name}:{tag}",
            "additional_tags": extra}  # fmt: skip
