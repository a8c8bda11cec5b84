"""Shared by the corpus import round trips (local store, Prefect server): put a corpus file in
an empty project with stub flows for its entrypoints and its pools made on the target, apply
it, drop its deployments section, `flowplan import`, plan: no changes."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowplan.project.loader import load_file
from tests.conftest import Result


def stub_flows(root: Path, data: dict[str, Any]) -> None:
    """A flow for each entrypoint (`**kwargs`: any parameters fit)."""
    functions: dict[Path, set[str]] = {}
    for item in data.get("deployments") or ():
        entrypoint = item.get("entrypoint") if isinstance(item, dict) else None
        if not isinstance(entrypoint, str) or "{{" in entrypoint:
            continue
        if ":" in entrypoint:
            location, _, function = entrypoint.rpartition(":")
        else:
            module, _, function = entrypoint.rpartition(".")
            location = module.replace(".", "/") + ".py"
        path = (root / location).resolve()
        if path.is_relative_to(root) and function.isidentifier():
            functions.setdefault(path, set()).add(function)
    for path, names in functions.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        body = "".join(f"\n\n@flow\ndef {name}(**kwargs):\n    pass\n" for name in sorted(names))
        path.write_text("from flowplan import flow\n" + body)


def pools_used(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, type) of each pool the deployments use that the file does not declare: docker
    when a deployment gives it an image, else process."""
    declared = {p.get("name") for p in data.get("work_pools") or () if isinstance(p, dict)}
    found = []
    for item in data.get("deployments") or ():
        pool = (item.get("work_pool") or {}).get("name") if isinstance(item, dict) else None
        if isinstance(pool, str) and "{{" not in pool and pool not in declared:
            declared.add(pool)
            variables = (item.get("work_pool") or {}).get("job_variables") or {}
            found.append((pool, "docker" if "image" in variables else "process"))
    return found


def without_deployments(text: str) -> str:
    from flowplan.project.save import _yaml

    yaml, data = _yaml(text)
    del data["deployments"]
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


def place(root: Path, source: Path) -> tuple[str, dict[str, Any]] | None:
    """Empty `root`, write the corpus file there as prefect.yaml with stub flows: its text and
    data, or None when it does not load or has no deployments list."""
    for child in root.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    text = source.read_text(encoding="utf-8", errors="replace")
    (root / "prefect.yaml").write_text(text)
    try:
        data = load_file(root / "prefect.yaml").data
    except Exception:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("deployments"), list):
        return None
    stub_flows(root, data)
    return text, data


@dataclass
class Trip:
    taken: bool  # the target applied the file
    failure: str | None = None  # what went wrong in the round trip, with the plan's diff


def round_trip(root: Path, text: str, cli: Callable[..., Result], live: Callable[[], int]
               ) -> Trip:  # fmt: skip
    """Apply the placed file, drop its deployments, import, plan. `live` counts the target's
    deployments: import must write each of them, and there must be some."""
    applied = cli("apply", "--auto-approve")
    if applied.code != 0:
        return Trip(False)
    (root / "prefect.yaml").write_text(without_deployments(text))
    imported = cli("import")
    planned = cli("plan", "--detailed-exitcode")
    count = live()
    written = load_file(root / "prefect.yaml").data.get("deployments") or []
    if imported.code != 0 or planned.code != 0 or len(written) != count or not count:
        failure = (f"import exit {imported.code}, plan exit {planned.code}, {len(written)} "
                   f"written of {count} live\n{imported.err[-600:]}\n{planned.out[-1500:]}\n"
                   f"{planned.err[-600:]}")  # fmt: skip
        return Trip(True, failure)
    return Trip(True)
