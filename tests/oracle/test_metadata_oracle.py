"""Flow metadata, Prefect as the oracle: for generated decorators and docstrings, the flow
name, description and version flowplan reads from the source equal what Prefect's
`load_flow_from_entrypoint` gives; a name flowplan cannot read without running code is warned
about (the flow then keeps the function's name, as the warning says), and so is a description
or version (flowplan then uses the docstring or the file's hash)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from flowplan.discovery.flows import scan_file
from tests.oracle.harness import ask_prefect, collect
from tests.oracle.metadata import cases
from tests.oracle.shared import HELPERS

COUNT = 120  # bench/oracle_bench.py runs many more, random


def differences(batch: list[dict[str, Any]]) -> tuple[list[str], int]:
    found, warned = [], 0
    answers = ask_prefect("metadata", batch)
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        (directory / "helpers.py").write_text(HELPERS)
        for index, (case, theirs) in enumerate(zip(batch, answers, strict=True)):
            path = directory / f"meta_{index}.py"
            path.write_text(case["module"])
            scanned = scan_file(path, path.name)
            flows = getattr(scanned, "flows", ())
            decorator = case["module"].split("\n\n\n")[-1]
            if "error" in theirs:
                found.append(f"{decorator}\nPrefect could not load it: {theirs['error']}")
                continue
            if len(flows) != 1:
                found.append(f"{decorator}\nflowplan found {len(flows)} flows")
                continue
            (flow,) = flows
            ours = {"name": flow.name, "description": flow.description, "version": flow.version}
            said = [key for key in ("description", "version")
                    if any(f"the flow {key} (" in p for p in flow.schema_problems)]  # fmt: skip
            if flow.name_problem:
                said.append("name")
            warned += bool(said)
            for key in said:
                ours[key] = theirs[key]  # flowplan said it cannot know it
            if ours != theirs:
                found.append(f"{decorator}\nflowplan: {ours}\nPrefect:  {theirs}")
    return found, warned


def test_flow_names_descriptions_and_versions_equal_prefects() -> None:
    batch = collect(cases(), COUNT)
    found, _ = differences(batch)
    assert not found, f"{len(found)} of {len(batch)} cases differ:\n\n" + "\n\n".join(found[:15])
