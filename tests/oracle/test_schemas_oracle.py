"""Parameter schemas, Prefect as the oracle: for generated flow modules, the schema flowplan
reads from the source equals the one Prefect sends for the imported flow, whole; where flowplan
cannot know a part without running code, it warns and leaves that part out (and the comparison
allows exactly that)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from flowplan.discovery.flows import FlowInfo, scan_file
from tests.oracle.harness import ask_prefect, collect
from tests.oracle.schemas import cases
from tests.oracle.shared import HELPERS

COUNT = 150  # bench/oracle_bench.py runs many more, random


def flowplan_flow(module: str, directory: Path, index: int) -> FlowInfo:
    (directory / "helpers.py").write_text(HELPERS)
    path = directory / f"generated_{index}.py"
    path.write_text(module)
    scanned = scan_file(path, path.name)
    assert not isinstance(scanned, Exception) and hasattr(scanned, "flows"), scanned
    (flow,) = scanned.flows  # type: ignore[union-attr]
    return flow


def differences(batch: list[dict[str, Any]]) -> tuple[list[str], int]:
    """(each case where flowplan's schema differs from Prefect's, the number of cases where
    flowplan warned and left something out)."""
    found, warned = [], 0
    answers = ask_prefect("schemas", batch)
    with tempfile.TemporaryDirectory() as temporary:
        for index, (case, answer) in enumerate(zip(batch, answers, strict=True)):
            flow = flowplan_flow(case["module"], Path(temporary), index)
            signature = case["module"].rsplit("@flow\n", 1)[1]
            if "error" in answer:
                found.append(f"{signature}\nPrefect could not load it: {answer['error']}")
                continue
            ours, theirs = flow.schema(), answer["schema"]
            if flow.schema_problems:
                warned += 1
            if not _matches(ours, theirs, bool(flow.schema_problems)):
                found.append(f"{signature}\nflowplan: {ours}\nPrefect:  {theirs}")
    return found, warned


_ENTRY_KEYS = {"title", "position", "default", "description"}


def _matches(ours: Any, theirs: Any, warned: bool, *, names: bool = False) -> bool:
    """Equal; where flowplan warned that it left something out, its untyped `{}` stands for
    whatever Prefect has there, and a default or a definition it could not read may be
    missing (`names`: a mapping of definitions, where Prefect may have more)."""
    if not warned:
        return bool(ours == theirs)
    if isinstance(ours, dict) and isinstance(theirs, dict):
        if not set(ours) <= set(theirs):
            return False
        extra = set(theirs) - set(ours)
        untyped = not set(ours) - _ENTRY_KEYS
        if not names and extra - {"default", "definitions"} and not untyped:
            return False
        return all(
            _matches(value, theirs[key], warned, names=key == "definitions")
            for key, value in ours.items()
        )
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(
            _matches(a, b, warned) for a, b in zip(ours, theirs, strict=True)
        )
    return bool(ours == theirs)


def test_parameter_schemas_equal_prefects() -> None:
    batch = collect(cases(), COUNT)
    assert len(batch) > COUNT * 0.9
    found, _ = differences(batch)
    assert not found, f"{len(found)} of {len(batch)} cases differ:\n\n" + "\n\n".join(found[:15])
