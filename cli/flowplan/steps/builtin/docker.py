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

DEFAULT_BASE_IMAGE = "prefecthq/prefect:3-python3.11"
_TAIL_LINES = 15


def default_tag(now: datetime | None = None) -> str:
    """Prefect's default: the slugified UTC time of the build."""
    moment = (now or datetime.now(UTC)).isoformat()
    return re.sub(r"[^a-z0-9]+", "-", moment.lower()).strip("-")


def client() -> Any:
    import docker

    host = os.environ.get("DOCKER_HOST", "the default socket (/var/run/docker.sock)")
    try:
        engine = docker.from_env()
        engine.ping()
    except Exception as exc:  # the SDK raises DockerException, ConnectionError, FileNotFoundError
        raise StepExecutionError(
            f"no Docker engine answers at DOCKER_HOST={host}: {type(exc).__name__}",
            hint="start Docker or 'podman system service', and set DOCKER_HOST to its socket",
        ) from None
    return engine


def auto_dockerfile(base_image: str, directory: Path) -> str:
    target = f"/opt/prefect/{directory.name}/"
    lines = [f"FROM {base_image}"]
    if (directory / "requirements.txt").exists():
        lines += [f"COPY requirements.txt {target}requirements.txt",
                  f"RUN python -m pip install -r {target}requirements.txt"]  # fmt: skip
    lines += [f"COPY . {target}", f"WORKDIR {target}"]
    return "\n".join(lines) + "\n"


def build_docker_image(
    image_name: str,
    dockerfile: str = "Dockerfile",
    tag: str | None = None,
    additional_tags: Iterable[str] | None = None,
    ignore_cache: bool = False,
    persist_dockerfile: bool = False,
    dockerfile_output_path: str = "Dockerfile.generated",
    base_image: str = DEFAULT_BASE_IMAGE,
    **build_kwargs: Any,
) -> dict[str, Any]:
    """Build `image_name:tag` from the current directory; errors carry the build log's tail."""
    if not image_name or any(char.isspace() for char in image_name):
        raise ValueError(f"image_name {image_name!r} must not be empty or contain spaces")
    tag = tag or default_tag()
    engine = client()
    generated = None
    if dockerfile == "auto":
        generated = Path("Dockerfile")
        if generated.exists():
            raise ValueError("Dockerfile already exists.")
        generated.write_text(auto_dockerfile(base_image, Path.cwd()), encoding="utf-8")
        dockerfile = "Dockerfile"
    log: list[str] = []
    image_id = None
    try:
        options = {"pull": True, **build_kwargs}
        stream = engine.api.build(path=str(Path.cwd()), dockerfile=dockerfile,
                                  tag=f"{image_name}:{tag}", rm=True, decode=True,
                                  nocache=ignore_cache, **options)  # fmt: skip
        for event in stream:
            if "stream" in event:
                log.extend(line for line in event["stream"].splitlines() if line.strip())
            if "error" in event:
                tail = "\n".join([*log, event["error"]][-_TAIL_LINES:])
                raise StepExecutionError(f"docker build of {image_name}:{tag} failed:\n{tail}")
            if "aux" in event and isinstance(event["aux"], dict):
                image_id = event["aux"].get("ID", image_id)
    except StepExecutionError:
        raise
    except Exception as exc:
        tail = "\n".join(log[-_TAIL_LINES:])
        raise StepExecutionError(
            f"docker build of {image_name}:{tag} failed: {exc}\n{tail}"
        ) from None
    finally:
        if generated is not None:
            if persist_dockerfile:
                generated.replace(dockerfile_output_path)
            else:
                generated.unlink(missing_ok=True)
    image = engine.images.get(f"{image_name}:{tag}")
    extra = list(additional_tags or ())
    for other in extra:
        image.tag(image_name, other)
    return {"image_name": image_name, "tag": tag, "image": f"{image_name}:{tag}",
            "image_id": image_id or image.id, "additional_tags": extra}  # fmt: skip


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
