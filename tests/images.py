"""A small local base image for container tests: Python 3.11 and flowplan with its runtime
dependencies, built from this machine's own files, never pulled from a registry (DESIGN.md
section 10: no registry image can be pulled here).

The image is assembled as a `docker save` archive of three layers, each a tar of files copied
from the host:

1. Python: the interpreter running the tests, its shared library, the standard library as one
   compiled zip (`/usr/local/lib/python311.zip`; without its tests, tkinter, idlelib, ...),
   `lib-dynload`, the shared libraries they need (found with `ldd`), and `/bin/sh` (dash).
   No other tools (no `ls`, no `git`: the `git_clone` pull step cannot run in it).
2. The dependencies: every distribution flowplan requires (recursively, as installed in the
   test environment), plus any `extras` asked for (`pip`, `prefect`, ...): pure Python ones
   in one compiled zip named by a `.pth` file, the others (extension modules, namespace
   packages) as files, with the shared libraries they need.
3. flowplan itself: the package the tests import (this worktree's), compiled, with its
   schemas and recipes in `flowplan/_data/` as the wheel has them, and a `flowplan` script in
   `/usr/local/bin`.

Each layer is cached under `~/.cache/flowplan-tests/layers/` (or `$FLOWPLAN_TEST_CACHE`), keyed
by a hash of its inputs (and of this file): only the flowplan layer is rebuilt when flowplan's
code changes (a few seconds). `base_image(client)` loads the archive into an engine (each test
session's podman has its own storage; about 2 s) unless the engine has that tag already, and
returns the tag.

Small matters: podman's `vfs` storage copies the whole root filesystem for every container
(about 45 MB and 700 files here; with the standard library as files, 90 MB and 5,000 files,
a container took 5 s to create instead of 1 s).

Usage (with `tests.servers.docker_engine`):

    import docker
    from tests.images import base_image

    client = docker.DockerClient(base_url=engine.host)
    tag = base_image(client)  # "localhost/flowplan-test-base:<hash>"
    client.containers.run(tag, ["python", "-c", "import flowplan"], remove=True)
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import marshal
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

REPOSITORY = "localhost/flowplan-test-base"
PREFIX = "/usr/local"
VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
SITE = f"{PREFIX}/lib/python{VERSION}/site-packages"
LIBRARY_DIR = "/usr/lib/x86_64-linux-gnu"  # on the loader's default path: no ld.so.cache

# Parts of the standard library no run needs.
STDLIB_SKIPPED = {
    "site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3",
    "pydoc_data", "distutils", "unittest", "__pycache__", "venv",
}  # fmt: skip
DYNLOAD_SKIPPED = ("_tkinter", "_test", "xxlimited", "_xxtestfuzz", "_ctypes_test")


def cache_directory() -> Path:
    return Path(os.environ.get("FLOWPLAN_TEST_CACHE") or Path.home() / ".cache/flowplan-tests")


def base_image(client: Any, extras: Sequence[str] = ()) -> str:
    """The tag of the base image in the engine of `client` (a `docker.DockerClient`), loaded
    from the cached archive when the engine does not have it. `extras`: more distributions
    of the test environment to install (`"pip"`, `"prefect"`, ...)."""
    layers = _layers(tuple(extras))
    tag = f"{REPOSITORY}:{_digest(''.join(layer.diff_id for layer in layers))[:16]}"
    import docker.errors

    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.get(tag)
        return tag
    with _archive(layers, tag) as archive, archive.open("rb") as stream:
        client.api.load_image(stream)
    client.images.get(tag)  # fails loudly when the load did not give the tag
    return tag


def archive_path(extras: Sequence[str] = ()) -> Path:
    """The image as a `docker save` archive file (for `podman load -i`); kept in the cache."""
    layers = _layers(tuple(extras))
    key = _digest("".join(layer.diff_id for layer in layers))[:16]
    target = cache_directory() / f"base-{key}.tar"
    if not target.exists():
        with _archive(layers, f"{REPOSITORY}:{key}") as archive:
            partial = target.with_suffix(f".{os.getpid()}.part")
            shutil.copyfile(archive, partial)
            partial.rename(target)
    return target


# -- layers ----------------------------------------------------------------------------------


class Layer:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.diff_id = "sha256:" + path.with_suffix(".sha256").read_text().strip()


def _layers(extras: tuple[str, ...]) -> list[Layer]:
    distributions = _closure(["flowplan", *extras])
    import flowplan

    package = Path(flowplan.__file__).parent
    sources = sorted(
        p
        for directory in (package, *_data_dirs())
        for p in directory.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    recipe = _file_digest(Path(__file__))  # a change here rebuilds every layer
    python_key = _digest(recipe, sys.version, sys.executable, *_python_files_key())
    deps_key = _digest(python_key, *(f"{d.metadata['Name']}=={d.version}" for d in distributions))
    flowplan_key = _digest(deps_key, *(f"{p}:{_file_digest(p)}" for p in sources))
    return [
        _layer(f"python-{python_key[:16]}", _stage_python),
        _layer(f"deps-{deps_key[:16]}", lambda root: _stage_distributions(root, distributions)),
        _layer(f"flowplan-{flowplan_key[:16]}", lambda root: _stage_flowplan(root, package)),
    ]


def _layer(name: str, stage: Any) -> Layer:
    directory = cache_directory() / "layers"
    target = directory / f"{name}.tar"
    if target.exists() and target.with_suffix(".sha256").exists():
        return Layer(target)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="flowplan-image-") as staging:
        root = Path(staging)
        stage(root)
        partial = directory / f"{name}.{os.getpid()}.part"  # sessions may build at once
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            for entry in sorted(root.iterdir()):
                tar.add(entry, arcname=entry.name)
        digest = hashlib.sha256()
        with partial.open("rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
        checksum = partial.with_suffix(".sha256-part")
        checksum.write_text(digest.hexdigest())
        checksum.rename(target.with_suffix(".sha256"))  # first: a layer's tar means its sum
        partial.rename(target)
    return Layer(target)


def _python_files_key() -> list[str]:
    binary = Path(sys.executable).resolve()
    return [str(binary), str(binary.stat().st_mtime), str(_libpython() or "")]


def _libpython() -> Path | None:
    for line in _ldd(Path(sys.executable).resolve()):
        if "libpython" in line.name:
            return line
    return None


def _stage_python(root: Path) -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    binary = Path(sys.executable).resolve()
    bin_dir = _mkdir(root, f"{PREFIX}/bin")
    shutil.copy2(binary, bin_dir / f"python{VERSION}")
    for alias in ("python3", "python"):
        (bin_dir / alias).symlink_to(f"python{VERSION}")
    target = _mkdir(root, f"{PREFIX}/lib/python{VERSION}")
    for entry in stdlib.iterdir():
        if entry.name in STDLIB_SKIPPED or entry.name.startswith("config-"):
            continue
        if entry.is_dir():
            shutil.copytree(entry, target / entry.name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "test", "tests",
                                                          "idle_test", *(f"{n}*" for n in DYNLOAD_SKIPPED)))  # fmt: skip
        else:
            shutil.copy2(entry, target / entry.name)
    _mkdir(root, SITE)
    # The standard library as one compiled zip (on sys.path before the directory): one file to
    # copy per container instead of two thousand. os.py stays as the prefix's landmark.
    with _zip(root / PREFIX.lstrip("/") / f"lib/python{VERSION.replace('.', '')}.zip") as bundle:
        for entry in sorted(target.iterdir()):
            if entry.name != "lib-dynload":
                _add(bundle, entry, entry.name)
                if entry.name != "os.py":
                    _remove(entry)
    for library in sorted(_python_libraries()):
        _copy_library(root, library)
    _mkdir(root, "/bin")
    shutil.copy2("/bin/dash", root / "bin/sh")
    for path in ("/tmp", "/root", "/etc", "/var/tmp", "/run"):
        _mkdir(root, path)
    (root / "tmp").chmod(0o1777)
    (root / "var/tmp").chmod(0o1777)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\n")
    _strip(root)


def _python_libraries() -> set[Path]:
    """The shared libraries the interpreter, its extension modules and `sh` need."""
    dynload = Path(sysconfig.get_paths()["stdlib"]) / "lib-dynload"
    libraries: set[Path] = set()
    for executable in [Path(sys.executable).resolve(), Path("/bin/dash"), *dynload.glob("*.so")]:
        if not executable.name.startswith(DYNLOAD_SKIPPED):
            libraries.update(_ldd(executable))
    return libraries


def _copy_library(root: Path, library: Path) -> None:
    real = library.resolve()
    if "libpython" in library.name or not str(library).startswith(("/lib", "/usr/lib")):
        place = Path(LIBRARY_DIR) / library.name
    else:
        place = library
    destination = root / place.relative_to("/")
    destination.parent.mkdir(parents=True, exist_ok=True)
    if not destination.exists():
        shutil.copy2(real, destination)
    if str(library).startswith("/lib64/"):  # the loader, named in every binary
        return
    usr = root / "usr" / place.relative_to("/")
    if str(place).startswith("/lib/") and not usr.exists():  # merged /usr: both paths work
        usr.parent.mkdir(parents=True, exist_ok=True)
        usr.symlink_to(os.path.relpath(destination, usr.parent))


def _strip(root: Path) -> None:
    if shutil.which("strip") is None:
        return
    for path in root.rglob("*"):
        binary = ".so" in path.name or path.parent.name == "bin"
        if path.is_file() and not path.is_symlink() and binary and "ld-linux" not in path.name:
            subprocess.run(["strip", "--strip-unneeded", str(path)], capture_output=True,
                           check=False)  # fmt: skip


def _ldd(executable: Path) -> list[Path]:
    done = subprocess.run(["ldd", str(executable)], capture_output=True, text=True, check=False)
    found = []
    for line in done.stdout.splitlines():
        match = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if match:
            found.append(Path(match.group(1)))
    return found


def _closure(names: Iterable[str]) -> list[metadata.Distribution]:
    """The distributions `names` need, as installed here (extras and markers honoured)."""
    seen: dict[str, metadata.Distribution] = {}
    pending: list[tuple[str, frozenset[str]]] = [(name, frozenset()) for name in names]
    while pending:
        name, extras = pending.pop()
        key = _normal(name)
        if key in seen and not extras:
            continue
        distribution = metadata.distribution(name)
        seen[key] = distribution
        for text in distribution.requires or []:
            requirement = Requirement(text)
            if requirement.marker is not None and not any(
                requirement.marker.evaluate({"extra": extra}) for extra in (*extras, "")
            ):
                continue
            if _normal(requirement.name) not in seen or requirement.extras:
                pending.append((requirement.name, frozenset(requirement.extras)))
    return [seen[key] for key in sorted(seen) if key != "flowplan"]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _stage_distributions(root: Path, distributions: Sequence[metadata.Distribution]) -> None:
    """Distributions of pure Python go into one compiled zip (named by a `.pth` file); those
    with extension modules or namespace packages, and any sharing a top-level name with one,
    stay files."""
    site = _mkdir(root, SITE)
    native = {  # zipimport can import neither extension modules nor namespace packages
        _normal(d.metadata["Name"])
        for d in distributions
        if _has_extensions(d) or _has_namespace(d)
    }
    shared_tops = {top for d in distributions if _normal(d.metadata["Name"]) in native
                   for top in _tops(d)}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="flowplan-image-") as staging:
        zipped = Path(staging)
        for distribution in distributions:
            on_disk = _normal(distribution.metadata["Name"]) in native or (
                _tops(distribution) & shared_tops
            )
            _copy_distribution(distribution, site if on_disk else zipped)
        with _zip(site / "flowplan-deps.zip") as bundle:
            for entry in sorted(zipped.iterdir()):
                _add(bundle, entry, entry.name)
    (site / "flowplan-deps.pth").write_text(f"{SITE}/flowplan-deps.zip\n")
    known = _python_libraries()
    for library in sorted({lib for so in site.rglob("*.so") for lib in _ldd(so)} - known):
        _copy_library(root, library)
    _sourceless(root, site)
    _strip(root)


def _copy_distribution(distribution: metadata.Distribution, site: Path) -> None:
    base = Path(str(distribution.locate_file("")))
    for file in distribution.files or []:
        if "__pycache__" in file.parts or ".." in file.parts or file.suffix == ".pyc":
            continue
        source = base / file
        if source.is_file():
            destination = site / file
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)


def _has_extensions(distribution: metadata.Distribution) -> bool:
    return any(file.suffix == ".so" for file in distribution.files or [])


def _has_namespace(distribution: metadata.Distribution) -> bool:
    files = {str(file) for file in distribution.files or []}
    packages = {top for top in _tops(distribution) if any(f.startswith(f"{top}/") for f in files)}
    return any(f"{top}/__init__.py" not in files for top in packages)


def _tops(distribution: metadata.Distribution) -> set[str]:
    return {
        file.parts[0].removesuffix(".py")
        for file in distribution.files or []
        if ".." not in file.parts and not file.parts[0].endswith((".dist-info", ".pth"))
    }


@contextlib.contextmanager
def _zip(path: Path) -> Iterator[zipfile.ZipFile]:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        yield bundle


def _add(bundle: zipfile.ZipFile, path: Path, name: str) -> None:
    """`path` into the zip as `name`: Python modules as bytecode only (zipimport reads
    `module.pyc` beside where `module.py` would be), other files as they are."""
    if path.is_dir():
        for entry in sorted(path.iterdir()):
            if entry.name != "__pycache__":
                _add(bundle, entry, f"{name}/{entry.name}")
    elif path.suffix == ".py":
        code = compile(path.read_bytes(), f"{name}", "exec", dont_inherit=True)
        data = importlib.util.MAGIC_NUMBER + (0b01).to_bytes(4, "little") + b"\0" * 8
        bundle.writestr(name[:-3] + ".pyc", data + marshal.dumps(code))
    elif path.suffix != ".pyc":
        bundle.write(path, name)


def _sourceless(root: Path, directory: Path) -> None:
    """Every module under `directory` as bytecode only, beside where its source was (one file
    instead of a source, a `__pycache__` and its bytecode: vfs copies files one by one). Code
    objects are named after the bytecode file, which is the module's `__file__`."""
    for source in sorted(directory.rglob("*.py")):
        target = source.with_suffix(".pyc")
        name = "/" + str(target.relative_to(root))
        code = compile(source.read_bytes(), name, "exec", dont_inherit=True)
        header = importlib.util.MAGIC_NUMBER + (0b01).to_bytes(4, "little") + b"\0" * 8
        target.write_bytes(header + marshal.dumps(code))
        source.unlink()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _stage_flowplan(root: Path, package: Path) -> None:
    site = _mkdir(root, SITE)
    shutil.copytree(package, site / "flowplan", ignore=shutil.ignore_patterns("__pycache__"))
    for data in _data_dirs():  # where the wheel puts them
        if not (site / "flowplan/_data" / data.name).exists():
            shutil.copytree(data, site / "flowplan/_data" / data.name)
    info = _mkdir(root, f"{SITE}/flowplan-{metadata.version('flowplan')}.dist-info")
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: flowplan\nVersion: {metadata.version('flowplan')}\n"
    )
    (info / "entry_points.txt").write_text("[console_scripts]\nflowplan = flowplan.main:main\n")
    _sourceless(root, site)
    script = _mkdir(root, f"{PREFIX}/bin") / "flowplan"
    script.write_text(
        f"#!{PREFIX}/bin/python{VERSION}\nimport sys\nfrom flowplan.main import main\n"
        "sys.exit(main())\n"
    )
    script.chmod(0o755)


def _data_dirs() -> list[Path]:
    """The schemas and recipes flowplan reads (in a source checkout, beside the package)."""
    from flowplan.resources import data_dir

    return [data_dir(name) for name in ("schemas", "recipes")]


# -- the archive -----------------------------------------------------------------------------


@contextlib.contextmanager
def _archive(layers: Sequence[Layer], tag: str) -> Iterator[Path]:
    """A `docker save` archive of `layers` named `tag`, in a temporary file."""
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": [f"PATH={PREFIX}/bin:/usr/bin:/bin", "LANG=C.UTF-8"],
            "Cmd": [f"python{VERSION}"],
            "WorkingDir": "/",
            "Labels": {"org.flowplan.test-base": "1"},
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created_by": f"tests/images.py: {layer.path.name}"} for layer in layers],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    names = [f"{layer.diff_id.removeprefix('sha256:')}/layer.tar" for layer in layers]
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": names}]
    with tempfile.TemporaryDirectory(prefix="flowplan-image-") as directory:
        path = Path(directory) / "image.tar"
        with tarfile.open(path, "w") as tar:
            for layer, name in zip(layers, names, strict=True):
                tar.add(layer.path, arcname=name)
            for name, data in (
                (config_name, config_bytes),
                ("manifest.json", json.dumps(manifest).encode()),
            ):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        yield path


# -- helpers ---------------------------------------------------------------------------------


def _mkdir(root: Path, path: str) -> Path:
    directory = root / path.lstrip("/")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


if __name__ == "__main__":  # python -m tests.images: build the layers, print the archive
    print(archive_path(sys.argv[1:]))
