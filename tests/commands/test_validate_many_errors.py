"""Many errors: the text output shows the first 100 of each file and counts the rest; schema
checking stops after 1,000 errors and says so (a 48 KB file with 16,000 wrong items took 45 s
and printed 16,001 lines). Timings are measured by bench/scale_bench.py, not here."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Result

FLOW = "from prefect import flow\n\n@flow\ndef etl(day: str = 'today'):\n    pass\n"


def test_sixteen_thousand_wrong_items_stop_at_a_thousand_and_show_a_hundred(
    project: Callable[..., Path], cli: Callable[..., Result]
) -> None:
    project(
        {
            "prefect.yaml": "deployments:\n  - name: a\n    tags: ["
            + ",".join(["[]"] * 16_000)
            + "]\n"
        }
    )
    result = cli("validate")
    lines = result.out.splitlines()
    assert result.code == 1
    assert len(lines) == 100 + 3
    assert lines[:2] == [
        "error: prefect.yaml:2:5: deployments[0]: deployment has no entrypoint (add entrypoint:"
        " path/to/file.py:flow_function)",
        "error: prefect.yaml:3:12: deployments[0].tags[0]: expected text, got a list",
    ]
    assert (
        lines[99] == "error: prefect.yaml:3:306: deployments[0].tags[98]: expected text, got a list"
    )
    assert lines[100:] == [
        "... and 901 more errors in prefect.yaml (--output json lists them all)",
        "error: prefect.yaml: checking stopped after 1,000 schema errors (fix these and check"
        " again)",
        "1002 errors, 0 warnings in 1 file.",
    ]
    findings = json.loads(cli("validate", "--output", "json").out)["files"][0]["findings"]
    assert len(findings) == 1002
    assert findings[-1]["code"] == "schema-stopped"
    assert [f["path"] for f in findings[1:3]] == [
        "deployments[0].tags[0]",
        "deployments[0].tags[1]",
    ]


def test_hidden_warnings_are_counted_apart_from_errors(
    project: Callable[..., Path], cli: Callable[..., Result]
) -> None:
    deployments = "".join(
        f"  - name: d{i}\n    entrypoint: flows/etl.py:etl\n    env: {{A: b}}\n" for i in range(104)
    )
    project(
        {"prefect.yaml": "deployments:\n" + deployments + "  - name: x\n", "flows/etl.py": FLOW}
    )
    lines = cli("validate").out.splitlines()
    assert lines[-2:] == [
        "... and 1 more error and 4 more warnings in prefect.yaml (--output json lists them all)",
        "1 error, 104 warnings in 1 file.",
    ]


def test_values_that_fit_a_later_branch_spend_nothing_of_the_error_budget(
    project: Callable[..., Path], cli: Callable[..., Result]
) -> None:
    """`work_pool` is a placeholder or a mapping: 1,200 mappings miss the first branch 1,200
    times, and the file is still valid."""
    deployments = "".join(
        f"  - name: d{i}\n    entrypoint: flows/etl.py:etl\n    work_pool: {{name: local}}\n"
        for i in range(1_200)
    )
    project({"prefect.yaml": "deployments:\n" + deployments, "flows/etl.py": FLOW})
    result = cli("validate")
    assert (result.code, result.out) == (0, "Valid: 1 file, 0 warnings.\n")
