"""Loading a deployment's entrypoint in the flow-run process, and what the loaded object says
about how to call it (flowplan flows, Prefect flows and plain functions alike)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowplan.errors import FlowplanError


@dataclass(frozen=True)
class Callable_:
    fn: Callable[..., Any]
    retries: int = 0
    retry_delay_seconds: float = 0
    timeout_seconds: float | None = None
    source: Any = None  # what the entrypoint named (a Prefect or flowplan flow, the function)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.fn)


def load_entrypoint(entrypoint: str, root: Path) -> Callable_:
    """`path/to/file.py:function` (relative to `root`, and inside it) or `package.module.fn`."""
    if ":" in entrypoint:
        location, _, name = entrypoint.rpartition(":")
        module = _load_file(location, root)
    else:
        module_name, _, name = entrypoint.rpartition(".")
        if not module_name:
            raise FlowplanError(f"entrypoint {entrypoint!r} names no module or file")
        sys.path.insert(0, str(root))
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise FlowplanError(f"cannot import {module_name!r} from {root}: {exc}") from None
    target = getattr(module, name, None)
    if target is None:
        raise FlowplanError(f"entrypoint {entrypoint!r}: no function {name!r} in that module")
    return describe(target)


def _load_file(location: str, root: Path) -> Any:
    path = (root / location).resolve()
    if not path.is_relative_to(root.resolve()):
        raise FlowplanError(f"entrypoint file {location!r} is outside the project {root}")
    if not path.is_file():
        raise FlowplanError(f"entrypoint file {location!r} not found in {root}")
    for directory in (str(path.parent), str(root)):
        if directory not in sys.path:
            sys.path.insert(0, directory)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(path.stem, module)
    spec.loader.exec_module(module)
    return module


def describe(target: Any) -> Callable_:
    """A flowplan `Flow` or a Prefect `Flow` is called through its wrapped function (never
    Prefect's engine), with its retries and timeout; a plain function is called as it is."""
    fn = getattr(target, "fn", None)
    if callable(fn):
        return Callable_(
            fn,
            retries=int(getattr(target, "retries", None) or 0),
            retry_delay_seconds=float(getattr(target, "retry_delay_seconds", None) or 0),
            timeout_seconds=getattr(target, "timeout_seconds", None) or None,
            source=target,
        )
    if callable(target):
        return Callable_(target, source=target)
    raise FlowplanError(f"the entrypoint is a {type(target).__name__}, not a flow or function")
