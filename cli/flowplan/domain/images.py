"""An image to build for deployments (Prefect's `DockerImage`), as `deploy()` takes it."""

from __future__ import annotations

import re
from typing import Any

from flowplan.domain.clock import utcnow
from flowplan.errors import InvalidInput


class DeploymentImage:
    """An image to build for deployments, as Prefect's DockerImage: `name` (with registry and
    repository; may end in `:tag`), `tag` (default: the UTC time of its creation, slugified),
    `dockerfile` ("auto": generated; else a path in the build context) and the build's keyword
    arguments (`buildargs`, `labels`, `target`, `pull`, `platform`...; flowplan's own:
    `base_image` and `install_flowplan` for the auto Dockerfile, `context` the directory)."""

    def __init__(
        self, name: str, tag: str | None = None, dockerfile: str = "auto", **build_kwargs: Any
    ) -> None:
        if not isinstance(name, str) or not name or any(char.isspace() for char in name):
            raise InvalidInput(f"image name {name!r} must be a non-empty string without spaces")
        repository, _, own_tag = name.rpartition(":")
        if not repository or "/" in own_tag:
            repository, own_tag = name, ""
        if tag and own_tag:
            raise InvalidInput(
                f"only one tag can be given: {name!r} has {own_tag!r} and tag={tag!r}"
            )
        self.name = repository
        self.tag = tag or own_tag or _timestamp_tag()
        self.dockerfile = dockerfile
        self.build_kwargs = dict(build_kwargs)

    @property
    def reference(self) -> str:
        return f"{self.name}:{self.tag}"

    @property
    def buildargs(self) -> dict[str, str]:
        return dict(self.build_kwargs.get("buildargs") or {})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DeploymentImage) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash(self.reference)

    def __repr__(self) -> str:
        extra = "".join(f", {key}={value!r}" for key, value in self.build_kwargs.items())
        return (f"DeploymentImage(name={self.name!r}, tag={self.tag!r}, "
                f"dockerfile={self.dockerfile!r}{extra})")  # fmt: skip


def _timestamp_tag() -> str:
    """Prefect's default tag: the slugified UTC time."""
    return re.sub(r"[^a-z0-9]+", "-", utcnow().isoformat().lower()).strip("-")
