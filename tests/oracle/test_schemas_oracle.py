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

COUNT = 150  # bench/oracle_bench.py runs many more, random


def flowplan_flow(module: str, directory: Path, index: int) -> FlowInfo:
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
                theirs = _without_unknowable(ours, theirs)
            if ours != theirs:
                found.append(f"{signature}\nflowplan: {ours}\nPrefect:  {theirs}")
    return found, warned


def _without_unknowable(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """Prefect's schema with what flowplan said it left out taken out: a default it did not
    give, a type it made `{}`."""
    result = {**theirs, "properties": dict(theirs["properties"])}
    for name, entry in ours["properties"].items():
        prefect = dict(result["properties"].get(name, {}))
        if "default" not in entry:
            prefect.pop("default", None)
        if not set(entry) - {"title", "position", "default", "description"}:
            prefect = {k: v for k, v in prefect.items()
                       if k in ("title", "position", "default", "description")}  # fmt: skip
        result["properties"][name] = prefect
    if "definitions" in result and "definitions" not in ours:
        result.pop("definitions")
    return result


def test_parameter_schemas_equal_prefects() -> None:
    batch = collect(cases(), COUNT)
    assert len(batch) > COUNT * 0.9
    found, _ = differences(batch)
    assert not found, f"{len(found)} of {len(batch)} cases differ:\n\n" + "\n\n".join(found[:15])
