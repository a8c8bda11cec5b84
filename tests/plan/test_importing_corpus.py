"""`flowplan import` round-trips the deployments of every corpus file the local store can take:
apply the file (with stub flows for its entrypoints and its pools made), drop its deployments
section, import, plan: no changes."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.project.loader import load_file
from tests.conftest import Result, corpus_files

pytestmark = pytest.mark.corpus

# how many corpus files the local store takes (applies without build steps, secrets or
# variables it does not have): each of them must round-trip (CBIIT__prefect-toolkit's
# `parameters:` (null) is refused, as Prefect refuses it)
TAKEN = 52


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


def make_pools(store: LocalBackend, data: dict[str, Any]) -> None:
    declared = {p.get("name") for p in data.get("work_pools") or () if isinstance(p, dict)}
    for item in data.get("deployments") or ():
        pool = (item.get("work_pool") or {}).get("name") if isinstance(item, dict) else None
        if isinstance(pool, str) and "{{" not in pool and pool not in declared:
            declared.add(pool)
            variables = (item.get("work_pool") or {}).get("job_variables") or {}
            kind = "docker" if "image" in variables else "process"
            store.create_work_pool(pool, kind)


def without_deployments(text: str) -> str:
    from flowplan.project.save import _yaml

    yaml, data = _yaml(text)
    del data["deployments"]
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


def test_every_corpus_file_the_store_takes_round_trips(
    project: Callable[..., Path], cli: Callable[..., Result], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    taken, failed = [], []
    for index, source in enumerate(corpus_files()):
        root = project({})
        for child in root.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        monkeypatch.setenv("FLOWPLAN_HOME", str(tmp_path / f"home-{index}"))
        text = source.read_text(encoding="utf-8", errors="replace")
        (root / "prefect.yaml").write_text(text)
        try:
            data = load_file(root / "prefect.yaml").data
        except Exception:
            continue
        if not isinstance(data, dict) or not isinstance(data.get("deployments"), list):
            continue
        stub_flows(root, data)
        store = LocalBackend(tmp_path / f"home-{index}" / "flowplan.db")
        try:
            make_pools(store, data)
        finally:
            store.close()
        if cli("apply", "--auto-approve").code != 0:
            continue
        (root / "prefect.yaml").write_text(without_deployments(text))
        imported = cli("import")
        planned = cli("plan", "--detailed-exitcode")
        store = LocalBackend(tmp_path / f"home-{index}" / "flowplan.db")
        live = len(store.read_deployments())
        store.close()
        written = load_file(root / "prefect.yaml").data.get("deployments") or []
        if imported.code != 0 or planned.code != 0 or len(written) != live or not live:
            failed.append((source.name, imported.err[-600:], planned.out[-900:],
                           planned.err[-600:]))  # fmt: skip
        taken.append(source.name)
    assert not failed, "\n\n".join(" | ".join(item) for item in failed)
    assert len(taken) == TAKEN, taken
