"""Walk a source tree in a deterministic order, honouring ignore files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from flowplan.discovery.ignore import IgnoreFile, is_ignored, load_ignore_file

SKIPPED_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", "node_modules", "__pycache__", "site-packages", ".venv", "venv",
        ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".eggs",
    }
)  # fmt: skip


def python_files(root: Path) -> Iterator[Path]:
    """Every `*.py` file under `root`, sorted, skipping ignored paths and virtual environments."""
    ignores: list[IgnoreFile] = []
    prefect_ignore = load_ignore_file(root / ".prefectignore", "")
    if prefect_ignore:
        ignores.append(prefect_ignore)
    yield from _walk(root, "", ignores)


def _walk(directory: Path, relative: str, ignores: list[IgnoreFile]) -> Iterator[Path]:
    local = load_ignore_file(directory / ".gitignore", relative)
    active = [*ignores, local] if local else ignores
    try:
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError:
        return
    for entry in entries:
        child = f"{relative}/{entry.name}" if relative else entry.name
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            continue
        if is_dir:
            if entry.name in SKIPPED_DIRS or Path(entry.path, "pyvenv.cfg").exists():
                continue
            if not is_ignored(active, child, True):
                yield from _walk(Path(entry.path), child, active)
        elif entry.name.endswith(".py") and not is_ignored(active, child, False):
            yield Path(entry.path)
