"""Structure-aware mutation of project files, and running validate, plan and apply on them (shared
by tests/project/test_structure_fuzz.py and bench/fuzz_structure.py).

Text mutation (fuzzing.py) mostly breaks the YAML; these mutants stay well-formed and reach the
later stages: a value of another type, huge, tiny, NaN or infinite numbers, deep nesting, odd
text, misspelt or misplaced keys, removed or repeated items. The base documents are valid
projects whose entrypoint exists (FLOW), so that plan and apply get past validation.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from flowplan.main import main
from tests.project.fuzzing import deadline

FLOW = (
    "from prefect import flow\n\n@flow\n"
    "def etl(day: str = 'today', limit: int = 10, tables: list[str] = [], cfg: dict = {},\n"
    "        **others):\n"
    "    pass\n"
)
ENTRYPOINT = "flows/etl.py:etl"

BASE: dict[str, Any] = {
    "name": "fuzz",
    "prefect-version": "3.0.0",
    "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": "/tmp"}}],
    "work_pools": [{"name": "local", "type": "process", "concurrency_limit": 4}],
    "deployments": [
        {
            "name": "nightly",
            "entrypoint": ENTRYPOINT,
            "description": "loads the tables",
            "version": "1.0",
            "tags": ["etl", "nightly"],
            "parameters": {"day": "yesterday", "limit": 5, "tables": ["a", "b"], "cfg": {"v": 1}},
            "work_pool": {"name": "local", "work_queue_name": "default",
                          "job_variables": {"env": {"MODE": "prod"}}},
            "schedules": [
                {"cron": "0 2 * * *", "timezone": "Europe/Berlin", "slug": "nightly"},
                {"interval": 3600, "anchor_date": "2024-01-01T00:00:00", "active": False},
                {"rrule": "FREQ=WEEKLY;BYDAY=MO", "parameters": {"limit": 1}},
            ],
            "concurrency_limit": 2,
            "enforce_parameter_schema": True,
        },
        {"name": "adhoc", "entrypoint": ENTRYPOINT, "paused": True, "work_pool": {"name": "local"},
         "concurrency_limit": {"limit": 1, "collision_strategy": "CANCEL_NEW"}},
    ],
}  # fmt: skip

KEYS = [
    "name", "entrypoint", "parameters", "schedules", "schedule", "cron", "interval", "rrule",
    "timezone", "anchor_date", "slug", "active", "work_pool", "work_queue_name", "job_variables",
    "tags", "pull", "build", "push", "concurrency_limit", "paused", "version", "description",
    "enforce_parameter_schema", "triggers", "type", "limit", "collision_strategy", "deployments",
    "work_pools", "base_job_template", "env", "priority", "day", "prefect-version", "requires",
]  # fmt: skip
NUMBERS: list[Any] = [0, -1, 1, 2**31, 2**63 - 1, 1e308, -1e308, 0.5, -0.0, True]
# Numbers the store or an interval cannot hold (JSON has no NaN or infinity, SQLite integers are
# 64-bit, an interval of 1e-7 s rounds to 0): the issue-20 fix of values refuses them; until it
# lands they crash plan or apply (exit 3).
OUT_OF_RANGE: list[Any] = [
    2**63, -(2**63) - 1, 10**30, 10**400, float("inf"), float("-inf"), float("nan"), 1e-7, 1e-300,
]  # fmt: skip
STRINGS = [
    "", " ", "x", "a" * 5000, "{{ }}", "{{ a.b }}", "{{ prefect.variables.nope }}",
    "{{ prefect.blocks.secret.s }}", "{{ $HOME }}", "../../etc/passwd", "/abs/x.py:f", ":",
    "x.py:", "flows/etl.py:nope", "flows/etl.py:etl", "0 0 * * *", "61 * * * *", "@daily",
    "FREQ=DAILY", "FREQ=SECONDLY;INTERVAL=0", "Mars/Olympus", "UTC", "2024-02-30", "P1D",
    "\u202e", "\u0663", "ü", "\t", "line\nbreak", "null", "~", "true", "-1", "1e9999", "0x1f",
    "local", "default", "CANCEL_NEW", "ENQUEUE", "process",
]  # fmt: skip


def _odd_value(rng: random.Random, numbers: list[Any], current: Any = None) -> Any:
    """Something else where `current` is: another number where a number is, more often."""
    pick = rng.random()
    if pick < 0.35 or (isinstance(current, int | float) and rng.random() < 0.6):
        return rng.choice(numbers)
    if pick < 0.7:
        return rng.choice(STRINGS)
    if pick < 0.8:
        return None
    if pick < 0.9:
        return [rng.choice(numbers + STRINGS) for _ in range(rng.randint(0, 3))]
    return {rng.choice(KEYS): rng.choice(numbers + STRINGS) for _ in range(rng.randint(0, 3))}


def _deep(value: Any, rng: random.Random) -> Any:
    for _ in range(rng.choice([20, 60, 99, 120])):
        value = [value] if rng.random() < 0.5 else {rng.choice(KEYS): value}
    return value


def _slots(data: Any) -> Iterator[tuple[Any, Any]]:
    """(container, key or index) of every value below the top."""
    stack = [data]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in list(items):
            yield node, key
            if isinstance(value, dict | list):
                stack.append(value)


def mutate(data: Any, rng: random.Random, *, out_of_range: bool = True) -> Any:
    """1 to 4 structural changes to a copy of `data` (`out_of_range`: with numbers the store
    or an interval cannot hold)."""
    numbers = NUMBERS + OUT_OF_RANGE if out_of_range else NUMBERS
    data = copy.deepcopy(data)
    for _ in range(rng.randint(1, 4)):
        slots = list(_slots(data))
        if not slots:
            break
        container, key = rng.choice(slots)
        op = rng.random()
        if op < 0.45:
            container[key] = _odd_value(rng, numbers, container[key])
        elif op < 0.55:
            container[key] = _deep(container[key], rng)
        elif op < 0.7 and isinstance(container, dict):
            value = container.pop(key)
            new = rng.choice([rng.choice(KEYS), key[:-1] if isinstance(key, str) else key])
            container[new] = value
        elif op < 0.8 and isinstance(container, dict):
            container[rng.choice(KEYS)] = _odd_value(rng, numbers)
        elif op < 0.9:
            del container[key]
        elif isinstance(container, list):
            container.append(copy.deepcopy(container[key]))
        else:
            container[key] = copy.deepcopy(container)  # a value that holds its parent's copy
    return data


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=200)


def project(root: Path, text: str) -> Path:
    (root / "flows").mkdir(parents=True, exist_ok=True)
    (root / "flows" / "etl.py").write_text(FLOW)
    (root / "prefect.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    return root


COMMANDS = (["validate"], ["plan"], ["apply", "--auto-approve"])


def run_all(
    root: Path, home: Path, seconds: int = 20, commands: tuple[list[str], ...] = COMMANDS
) -> list[tuple[str, int, str]]:
    """validate, plan and apply in `root` (this process, cwd changed meanwhile) against the
    store in `home`: (command, exit code, what it printed) of each; a command that takes longer
    than `seconds` raises fuzzing.Hang."""
    results = []
    previous_cwd, previous_home = Path.cwd(), os.environ.get("FLOWPLAN_HOME")
    os.environ["FLOWPLAN_HOME"] = str(home)
    os.chdir(root)
    try:
        for args in commands:
            out = io.StringIO()
            with (
                deadline(seconds),
                contextlib.redirect_stdout(out),
                contextlib.redirect_stderr(out),
            ):
                code = main(list(args))
            results.append((args[0], code, out.getvalue()))
    finally:
        os.chdir(previous_cwd)
        if previous_home is None:
            os.environ.pop("FLOWPLAN_HOME", None)
        else:
            os.environ["FLOWPLAN_HOME"] = previous_home
    return results
