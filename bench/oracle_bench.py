"""The differential suites with Prefect as the oracle, on many random cases (`make test`
runs a small derandomized set): parameter schemas, flow metadata, schedule times, run-time
values and job variables after run-time templating. Writes results/oracle.json: per suite, the
cases compared, the differences (and the first few), the cases where flowplan warned that it
left something out, the listed departures, and the seconds the suite took (one `.venv-prefect`
process per suite).

    .venv/bin/python bench/oracle_bench.py [CASES_PER_SUITE]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import write
from tests.oracle import (
    job_variables,
    metadata,
    schedules,
    schemas,
    test_job_variables_oracle,
    test_metadata_oracle,
    test_run_values_oracle,
    test_schedules_oracle,
    test_schemas_oracle,
    values,
)
from tests.oracle.harness import collect


def run_suite(name: str, count: int) -> dict[str, Any]:
    start = time.perf_counter()
    warned = departures = 0
    if name == "schemas":
        batch = collect(schemas.cases(), count, random=True)
        found, warned = test_schemas_oracle.differences(batch)
    elif name == "metadata":
        batch = collect(metadata.cases(), count, random=True)
        found, warned = test_metadata_oracle.differences(batch)
    elif name == "schedules":
        batch = collect(schedules.cases(), count, random=True)
        found, departures = test_schedules_oracle.differences(batch)
    elif name == "job_variables":
        batch = collect(job_variables.cases(), count, random=True)
        with tempfile.TemporaryDirectory(prefix="flowplan-oracle-") as home:
            found, departures, _ = test_job_variables_oracle.differences(batch, Path(home))
    else:
        batch = collect(values.cases(), count, random=True)
        found = test_run_values_oracle.differences(batch)
    return {
        "cases": len(batch),
        "differences": len(found),
        "warned_and_left_out": warned,
        "listed_departures": departures,
        "seconds": round(time.perf_counter() - start, 1),
        "examples": found[:5],
    }


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    results = {}
    for name in ("schemas", "metadata", "schedules", "run_values", "job_variables"):
        results[name] = run_suite(name, count)
        summary = {k: v for k, v in results[name].items() if k != "examples"}
        print(f"{name}: {summary}", flush=True)
    write("oracle", {"target": "0 differences in every suite", "cases_asked": count,
                     "suites": results})  # fmt: skip


if __name__ == "__main__":
    main()
