"""Where a flow function lives: its project root, entrypoint and parameter schema.

The root is the nearest directory above the flow's file that holds a `prefect.yaml`; else the
current directory when the file is inside it; else the file's own directory. The entrypoint is the
file relative to that root plus the function name, so it always stays inside the project.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowplan import files
from flowplan.discovery.flows import function_parameters
from flowplan.discovery.params import parameter_schema
from flowplan.errors import InvalidInput


@dataclass(frozen=True)
class Location:
    root: Path
    entrypoint: str
    parameter_schema: dict[str, Any]
    accepts_any_keyword: bool
    file_hash: str  # the md5 of the flow's file: the default version, as in Prefect


def project_root(file: Path) -> Path:
    for directory in file.parents:
        if (directory / "prefect.yaml").is_file():
            return directory
    cwd = Path.cwd().resolve()
    return cwd if file.is_relative_to(cwd) else file.parent


_LOCATIONS: dict[Callable[..., Any], Location] = {}


def locate(fn: Callable[..., Any], flow_name: str) -> Location:
    """Raises InvalidInput for functions that cannot be loaded by path later (no source file,
    defined inside another function or class). Computed once per function and process."""
    if fn not in _LOCATIONS:
        _LOCATIONS[fn] = _locate(fn, flow_name)
    return _LOCATIONS[fn]


def _locate(fn: Callable[..., Any], flow_name: str) -> Location:
    source = inspect.getsourcefile(fn)
    if source is None or not source.endswith(".py"):
        raise InvalidInput(
            f"flow {flow_name!r} has no Python source file; deployable flows must be defined in a"
            " .py file"
        )
    qualname = getattr(fn, "__qualname__", "")
    if "." in qualname:
        raise InvalidInput(
            f"flow {flow_name!r} is defined inside {qualname.rsplit('.', 1)[0]!r}; deployable"
            " flows must be defined at the top level of a module"
        )
    file = Path(source).resolve()
    root = project_root(file)
    function = fn.__name__
    try:
        content = files.read_bytes(file, what="Python sources")
    except files.UnreadableFile as exc:
        raise InvalidInput(f"cannot read {file}: {exc.reason}") from None
    found = function_parameters(file, function)
    if found is None:
        raise InvalidInput(f"cannot find function {function!r} in {file}")
    parameters, any_keyword = found
    return Location(
        root=root,
        entrypoint=f"{file.relative_to(root).as_posix()}:{function}",
        parameter_schema=parameter_schema(parameters),
        accepts_any_keyword=any_keyword,
        file_hash=hashlib.md5(content, usedforsecurity=False).hexdigest(),
    )
