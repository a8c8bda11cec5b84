"""Wheels of what is installed here, for images built without network access.

flowplan is on no package index an image build could reach, so an auto-Dockerfile image gets
flowplan (and its dependencies, and Prefect when the project uses it) as wheels written into the
build context and installed with `pip --no-index --find-links`. The wheels are made from the
running installation: flowplan's own from its package directory (this works for an editable
install too), every other distribution repacked from the files its RECORD lists, with the tags
of its WHEEL file (a compiled one only installs in an image of the same Python and platform).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from flowplan import files, resources

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_SKIPPED_METADATA = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(line: str) -> str | None:
    """The distribution a requirement names ("rich>=13; python_version>'3'" -> "rich")."""
    match = _NAME.match(line)
    return canonical(match.group(1)) if match else None


def installed(name: str) -> metadata.Distribution | None:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None


def closure(roots: Iterable[str]) -> list[metadata.Distribution]:
    """The installed distributions `roots` need, transitively. A superset: requirements behind
    an environment marker are included when installed (pip picks what the image needs), those
    of extras are not; requirements not installed here are left out (pip then says so)."""
    found: dict[str, metadata.Distribution] = {}
    todo = [canonical(root) for root in roots]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        dist = installed(name)
        if dist is None:
            continue
        found[name] = dist
        for requirement in dist.requires or ():
            marker = requirement.partition(";")[2]
            if "extra" in marker:
                continue
            wanted = requirement_name(requirement)
            if wanted:
                todo.append(wanted)
    return [found[name] for name in sorted(found)]


def _package_dir() -> Path:
    return Path(resources.__file__).resolve().parent


def _own_files() -> Iterator[tuple[str, Path]]:
    """flowplan's package files as a wheel holds them (data dirs under `flowplan/_data`)."""
    package = _package_dir()
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            yield f"flowplan/{path.relative_to(package).as_posix()}", path
    if not (package / "_data").is_dir():  # a source checkout: the data dirs are at its root
        for name in ("schemas", "recipes"):
            directory = resources.data_dir(name)
            for path in sorted(directory.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    relative = path.relative_to(directory).as_posix()
                    yield f"flowplan/_data/{name}/{relative}", path


def _hash_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def fingerprint(dists: Iterable[metadata.Distribution]) -> str:
    """What the wheels of `dists` would hold, cheaply: names and versions, and for flowplan
    (often an editable install whose version does not move) the hash of its files."""
    digest = hashlib.sha256()
    for dist in dists:
        digest.update(f"{canonical(dist.metadata['Name'])}=={dist.version}\n".encode())
        if canonical(dist.metadata["Name"]) == "flowplan":
            for name, path in _own_files():
                digest.update(f"{name} {_hash_file(path)}\n".encode())
    return digest.hexdigest()


class CannotPackage(Exception):
    """An installed distribution that cannot be made into a wheel (the message says why)."""


@dataclass
class Wheel:
    filename: str
    content: bytes


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _zip(entries: list[tuple[str, bytes]], dist_info: str) -> bytes:
    buffer = io.BytesIO()
    record = [_record_line(name, data) for name, data in entries]
    record.append(f"{dist_info}/RECORD,,")
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
        archive.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    return buffer.getvalue()


def _wheel_tag(wheel_text: str) -> str:
    tags: list[str] = re.findall(r"^Tag:\s*(\S+)\s*$", wheel_text, flags=re.MULTILINE)
    if not tags:
        return "py3-none-any"
    parts = [tag.split("-") for tag in tags]
    if any(len(part) != 3 for part in parts):
        return tags[0]
    # a compressed tag set: python tags, abi tags and platform tags each joined with "."
    return "-".join(".".join(dict.fromkeys(part[i] for part in parts)) for i in range(3))


def _meta_text(dist: metadata.Distribution, filename: str) -> str | None:
    """A file of the distribution's .dist-info directory, as its RECORD lists it."""
    for item in dist.files or ():
        if item.parent.name.endswith(".dist-info") and item.name == filename:
            return files.read_text(Path(str(dist.locate_file(item))), what="metadata files")
    return None


def _stem(dist: metadata.Distribution) -> str:
    return f"{re.sub(r'[-_.]+', '_', dist.metadata['Name'])}-{dist.version}"


def own_wheel_name() -> str:
    """The file name of flowplan's own wheel (`make_wheel` of the running flowplan)."""
    return f"{_stem(metadata.distribution('flowplan'))}-py3-none-any.whl"


def make_wheel(dist: metadata.Distribution) -> Wheel:
    name = dist.metadata["Name"]
    stem = _stem(dist)
    dist_info = f"{stem}.dist-info"
    metadata_text = _meta_text(dist, "METADATA") or ""
    entries: list[tuple[str, bytes]] = []
    if canonical(name) == "flowplan":
        entries = [
            (arcname, files.read_bytes(path, 64 * files.MB)) for arcname, path in _own_files()
        ]
        wheel_text = (
            "Wheel-Version: 1.0\nGenerator: flowplan\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        extra = {"entry_points.txt": _meta_text(dist, "entry_points.txt")}
    else:
        direct = json.loads(_meta_text(dist, "direct_url.json") or "{}")
        if isinstance(direct, dict) and direct.get("dir_info", {}).get("editable"):
            raise CannotPackage(f"{name} is installed in editable mode (pip install -e)")
        wheel_text = _meta_text(dist, "WHEEL") or ""
        if not wheel_text:
            raise CannotPackage(
                f"{name} {dist.version} has no WHEEL file (not installed from a wheel)"
            )
        extra = {}
        for item in dist.files or ():
            posix = item.as_posix()
            if posix.startswith("..") or "__pycache__" in posix or posix.endswith(".pyc"):
                continue
            if ".dist-info/" in posix:
                if posix.rsplit("/", 1)[1] in _SKIPPED_METADATA | {"METADATA", "WHEEL"}:
                    continue
                extra[posix.rsplit("/", 1)[1]] = None  # read below under the new dist-info name
                continue
            path = Path(str(dist.locate_file(item)))
            if path.is_file():
                entries.append((posix, files.read_bytes(path, 512 * files.MB)))
        for filename in list(extra):
            extra[filename] = _meta_text(dist, filename)
    entries.append((f"{dist_info}/METADATA", metadata_text.encode()))
    entries.append((f"{dist_info}/WHEEL", wheel_text.encode()))
    for filename, text in sorted(extra.items()):
        if text is not None:
            entries.append((f"{dist_info}/{filename}", text.encode()))
    return Wheel(f"{stem}-{_wheel_tag(wheel_text)}.whl", _zip(entries, dist_info))
