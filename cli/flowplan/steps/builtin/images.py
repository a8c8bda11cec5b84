"""Building an image once: the build context as flowplan sends it, its digest, and a build that
is skipped when the engine already has an image of that digest.

The context is a tar flowplan writes itself (the project's files minus `.dockerignore`, plus,
for an auto Dockerfile, the generated Dockerfile and wheels of flowplan), so nothing is written
into the project. Its digest covers the Dockerfile, every file's path, kind, executable bit and
content, the build options (build args, labels, target...), the local ids of the `FROM` images
and, for the wheels, the installed versions (and flowplan's own files). The digest is stored as
the label `org.flowplan.build-digest` on the image; a build whose digest an image on the engine
already carries only tags that image.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import sys
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from flowplan import files
from flowplan.errors import StepExecutionError
from flowplan.steps.builtin import wheels

LABEL = "org.flowplan.build-digest"
WHEELS = (
    ".flowplan-wheels"  # where the wheels are in the context; /opt/flowplan/wheels in the image
)
PROJECT = "project"  # where the project's files are in an auto-Dockerfile context
AUTO_DOCKERFILE = "Dockerfile.flowplan"
_TAIL_LINES = 15
_IMPORTS_PREFECT = re.compile(r"^\s*(?:from|import)\s+prefect\b", re.MULTILINE)


def default_base_image(env: Mapping[str, str] | None = None) -> str:
    """FLOWPLAN_DOCKER_BASE_IMAGE, else Python's slim image of the running Python's version
    (Prefect picks `prefecthq/prefect:<its version>-python<the running Python>` the same way;
    the same Python matters here because compiled wheels are repacked from this installation)."""
    environ = os.environ if env is None else env
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return environ.get("FLOWPLAN_DOCKER_BASE_IMAGE") or f"python:{version}-slim"


@dataclass
class Context:
    """A build context: files of the project (by their name in the tar), generated files, and
    the distributions whose wheels go under WHEELS."""

    root: Path
    dockerfile: str  # its name in the tar
    entries: list[tuple[str, Path]] = field(default_factory=list)
    generated: dict[str, bytes] = field(default_factory=dict)
    bundle: list[metadata.Distribution] = field(default_factory=list)

    def dockerfile_text(self) -> str:
        if self.dockerfile in self.generated:
            return self.generated[self.dockerfile].decode()
        path = dict(self.entries)[self.dockerfile]
        return _read(path, "Dockerfiles")

    def digest(self, options: Mapping[str, Any], bases: Mapping[str, str]) -> str:
        summary = {
            "dockerfile": self.dockerfile,
            "generated": {name: _sha(data) for name, data in self.generated.items()},
            "options": options,
            "bases": bases,
            "wheels": wheels.fingerprint(self.bundle) if self.bundle else None,
        }
        digest = hashlib.sha256(json.dumps(summary, sort_keys=True, default=str).encode())
        for name, path in sorted(self.entries):
            digest.update(f"{name}\0{_describe(path)}\n".encode())
        return digest.hexdigest()

    def write(self, target: IO[bytes]) -> None:
        with tarfile.open(fileobj=target, mode="w") as archive:
            for name, path in sorted(self.entries):
                archive.add(path, arcname=name, recursive=False)
            for name, data in sorted(self.generated.items()):
                _add_bytes(archive, name, data)
            for dist in self.bundle:
                wheel = wheels.make_wheel(dist)
                _add_bytes(archive, f"{WHEELS}/{wheel.filename}", wheel.content)


def _read(path: Path, what: str) -> str:
    try:
        return files.read_text(path, what=what)
    except files.UnreadableFile as exc:
        raise StepExecutionError(f"cannot read {path}: {exc.reason}") from None


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _describe(path: Path) -> str:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return f"link {path.readlink()}"
    if stat.S_ISDIR(info.st_mode):
        return "dir"
    if not stat.S_ISREG(info.st_mode):
        return "special"
    with open(path, "rb") as handle:
        content = hashlib.file_digest(handle, "sha256").hexdigest()
    return f"file {'x' if info.st_mode & 0o111 else '-'} {content}"


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


def _project_files(root: Path, keep: str | None = None) -> list[str]:
    from docker.utils.build import exclude_paths

    patterns: list[str] = []
    ignore = root / ".dockerignore"
    if ignore.exists():
        lines = _read(ignore, "ignore files").splitlines()
        patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    kept = exclude_paths(str(root), patterns, dockerfile=keep or "Dockerfile")
    # bytecode is left out: Python writes it anew, and a flow file merely imported would
    # otherwise change the digest (and rebuild the image)
    return sorted(name for name in kept if not _bytecode(name))


def _bytecode(name: str) -> bool:
    return "__pycache__" in name.split("/") or name.endswith(".pyc")


def user_context(root: Path, dockerfile: str) -> Context:
    """The project as the context of the user's Dockerfile (`dockerfile` relative to `root`)."""
    entries = [(name, root / name) for name in _project_files(root, dockerfile)]
    path = (root / dockerfile).resolve()
    if not path.is_file():
        raise StepExecutionError(f"Dockerfile {dockerfile!r} not found in {root}")
    if path.is_relative_to(root.resolve()):
        return Context(root, path.relative_to(root.resolve()).as_posix(), entries)
    data = _read(path, "Dockerfiles").encode()
    return Context(root, AUTO_DOCKERFILE, entries, {AUTO_DOCKERFILE: data})


def _requirements(root: Path) -> tuple[list[str], bool]:
    """The names requirements.txt lists, and whether all of them are installed here (then
    the image installs them from the wheels only, with --no-index)."""
    text = _read(root / "requirements.txt", "requirements files")
    names, local = [], True
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name = None if line.startswith("-") or "://" in line else wheels.requirement_name(line)
        if name is None or wheels.installed(name) is None:
            local = False
        if name is not None:
            names.append(name)
    return names, local


def uses_prefect(root: Path, names: list[str], requirements: list[str]) -> bool:
    if "prefect" in requirements:
        return True
    for name in names:
        if name.endswith(".py"):
            try:
                if _IMPORTS_PREFECT.search(files.read_text(root / name, what="flow sources")):
                    return True
            except files.UnreadableFile:
                continue
    return False


def auto_context(root: Path, base_image: str, install_flowplan: bool = True) -> Context:
    """The project under PROJECT, a generated Dockerfile and (unless `install_flowplan` is
    false: the base image has it) wheels of flowplan, of Prefect when the project imports it or
    requires it, and of what requirements.txt lists that is installed here."""
    names = _project_files(root, AUTO_DOCKERFILE)
    entries = [(f"{PROJECT}/{name}", root / name) for name in names]
    target = f"/opt/prefect/{root.name}/"
    has_requirements = (root / "requirements.txt").is_file()
    requirements, all_local = _requirements(root) if has_requirements else ([], True)
    lines = [f"FROM {base_image}"]
    bundle: list[metadata.Distribution] = []
    pip = "RUN python -m pip install --no-cache-dir --disable-pip-version-check"
    links = "--find-links /opt/flowplan/wheels"
    if install_flowplan:
        roots = ["flowplan"]
        if uses_prefect(root, names, requirements) and wheels.installed("prefect"):
            roots.append("prefect")
        bundle = wheels.closure([*roots, *requirements])
        own = f"/opt/flowplan/wheels/{wheels.own_wheel_name()}"
        # the dependencies (those already in the base are kept), then this very flowplan even
        # when the base has one of the same version number (written over it when that one
        # cannot be uninstalled: installed without a RECORD)
        again = f"{pip[4:]} --no-index --no-deps"
        reinstall = f"({again} --force-reinstall {own} || {again} --ignore-installed {own})"
        lines += [f"COPY {WHEELS} /opt/flowplan/wheels",
                  f"{pip} --no-index {links} {' '.join(roots)} && {reinstall}"]  # fmt: skip
    if has_requirements:
        options = (f"{'--no-index ' if all_local else ''}{links} ") if install_flowplan else ""
        lines += [f"COPY {PROJECT}/requirements.txt {target}requirements.txt",
                  f"{pip} {options}-r {target}requirements.txt"]  # fmt: skip
    lines += [f"COPY {PROJECT}/ {target}", f"WORKDIR {target}"]
    text = "\n".join(lines) + "\n"
    return Context(root, AUTO_DOCKERFILE, entries, {AUTO_DOCKERFILE: text.encode()}, bundle)


_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", re.IGNORECASE | re.MULTILINE)


def base_ids(engine: Any, dockerfile_text: str) -> dict[str, str]:
    """The local id of each image the Dockerfile starts FROM ("absent" when not local)."""
    stages: set[str] = set()
    found: dict[str, str] = {}
    for match in _FROM.finditer(dockerfile_text):
        image, stage = match.group(1), match.group(2)
        if image.lower() != "scratch" and image not in stages and "$" not in image:
            try:
                found[image] = engine.images.get(image).id
            except Exception:  # docker.errors.ImageNotFound, or a name the engine rejects
                found[image] = "absent"
        if stage:
            stages.add(stage)
    return found


def split_reference(reference: str) -> tuple[str, str]:
    """("registry:5000/team/etl", "v1") from "registry:5000/team/etl:v1"."""
    name, _, tag = reference.rpartition(":")
    if not name or "/" in tag:
        return reference, "latest"
    return name, tag


@dataclass(frozen=True)
class Built:
    reference: str
    image_id: str
    digest: str
    built: bool  # False: an image of the same digest was already there and was only tagged


def build(
    engine: Any,
    context: Context,
    reference: str,
    options: Mapping[str, Any],
    ignore_cache: bool = False,
    echo: Callable[[str], None] = lambda text: None,
) -> Built:
    """Build `reference` from `context` unless the engine has an image of the same digest;
    errors raise StepExecutionError with the build log's tail."""
    options = dict(options)
    options.setdefault("pull", True)
    bases = base_ids(engine, context.dockerfile_text())
    significant = {key: value for key, value in options.items() if key not in ("pull", "rm")}
    digest = context.digest(significant, bases)
    name, tag = split_reference(reference)
    if not ignore_cache:
        # podman also puts the label on the build's intermediate images, which have no tag
        tagged = [image for image in engine.images.list(filters={"label": f"{LABEL}={digest}"})
                  if image.tags]  # fmt: skip
        tagged.sort(key=lambda image: reference not in image.tags)
        if tagged:
            image = tagged[0]
            if reference not in image.tags:
                image.tag(name, tag)
            echo(f"image {reference}: unchanged, not rebuilt (digest {digest[:12]})")
            return Built(reference, image.id, digest, built=False)
    labels = {**dict(options.pop("labels", None) or {}), LABEL: digest}
    log: list[str] = []
    image_id = None
    try:
        with tempfile.TemporaryFile() as tar:
            context.write(tar)
            tar.seek(0)
            stream = engine.api.build(fileobj=tar, custom_context=True,
                                      dockerfile=context.dockerfile, tag=reference, rm=True,
                                      decode=True, nocache=ignore_cache, labels=labels,
                                      **options)  # fmt: skip
            for event in stream:
                if "stream" in event:
                    log.extend(line for line in event["stream"].splitlines() if line.strip())
                if "error" in event:
                    tail = "\n".join([*log, event["error"]][-_TAIL_LINES:])
                    raise StepExecutionError(f"docker build of {reference} failed:\n{tail}")
                if "aux" in event and isinstance(event["aux"], dict):
                    image_id = event["aux"].get("ID", image_id)
    except StepExecutionError:
        raise
    except wheels.CannotPackage as exc:
        raise StepExecutionError(
            f"docker build of {reference}: cannot put {exc} into the image",
            hint="install it from a wheel, or give your own Dockerfile",
        ) from None
    except Exception as exc:
        tail = "\n".join(log[-_TAIL_LINES:])
        raise StepExecutionError(f"docker build of {reference} failed: {exc}\n{tail}") from None
    image = engine.images.get(reference)
    echo(f"image {reference}: built")
    return Built(reference, image_id or image.id, digest, built=True)
