"""Job variables after run-time templating, Prefect as the oracle: for generated pool base job
templates, deployment job variables and run job variables (secret, JSON-secret-field, variable
and `$ENV` references, nested `env` mappings, dotted keys, nulls, values that are not text),
the configuration flowplan's worker starts a run with (`run_config.job_configuration`, on a real
local store holding the secrets and variables) equals the one Prefect's worker builds
(`BaseJobConfiguration.resolve_for_flow_run` over the same values), or both refuse. The secret
values are read only there: each one a configuration holds is masked in what flowplan prints."""

from __future__ import annotations

import ast
import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flowplan import masking
from flowplan.backends.local import LocalBackend
from flowplan.domain.objects import Deployment, FlowRun, State, StateType, WorkPool
from flowplan.errors import FlowplanError
from flowplan.runtime import run_config
from tests.oracle import job_variables
from tests.oracle.harness import ask_prefect, collect
from tests.oracle.shared import JOB_ENVIRON, JOB_SECRETS, JOB_VARIABLES

COUNT = 300  # bench/oracle_bench.py runs many more, random
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def store(home: Path) -> LocalBackend:
    backend = LocalBackend(home / "flowplan.db")
    for name, value in JOB_SECRETS.items():
        backend.set_secret(name, value)
    for name, value in JOB_VARIABLES.items():
        backend.set_variable(name, value)
    return backend


def flowplan_configuration(backend: LocalBackend, case: dict[str, Any]) -> dict[str, Any]:
    pool = WorkPool("p", "pool", "process", NOW, NOW, base_job_template=case["template"])
    deployment = Deployment("d", "d", "f", "f", NOW, NOW,
                            job_variables=copy.deepcopy(case["deployment"]))  # fmt: skip
    run = FlowRun("r", "r", "f", "f", State(StateType.PENDING, "Pending", NOW), NOW, NOW,
                  deployment_id="d", job_variables=copy.deepcopy(case["run"]))  # fmt: skip
    try:
        config = run_config.job_configuration(backend, pool, deployment, run)
    except FlowplanError as exc:
        return {"error": str(exc)}
    except Exception as exc:  # a bug: the worker would crash the run with it
        return {"crash": f"{type(exc).__name__}: {exc}"}
    env = {k: v for k, v in config.env.items() if k != run_config.SECRETS_ENV}
    return {"command": config.command, "env": env, "labels": config.labels, "name": config.name,
            "stream_output": config.stream_output, "working_dir": config.working_dir,
            **config.extra}  # fmt: skip


def secret_texts() -> list[str]:
    """Every secret value, and every text field of the ones holding JSON."""
    found = []
    for value in JOB_SECRETS.values():
        found.append(value)
        try:
            data = json.loads(value)
        except ValueError:
            continue
        found += _texts(data)
    return found


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, str | int) and not isinstance(value, bool):
        yield str(value)


def differences(batch: list[dict[str, Any]], home: Path) -> tuple[list[str], int, int]:
    """(each case where flowplan's configuration differs from Prefect's, the number of cases
    that differ only at the listed departure, the number of configurations holding a secret
    value: each one masked in what flowplan prints). No refusal of flowplan's quotes a secret.

    The departures: flowplan never writes Python's repr of a mapping or a list into text. A
    variable holding one, inside text (`"x {{ prefect.variables.cfg }}"`), is refused, and one
    given as an environment value becomes JSON text; Prefect writes `str()` of it."""
    backend = store(home)
    found, departures, with_secrets = [], 0, 0
    answers = ask_prefect("job_variables", batch)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in JOB_ENVIRON.items():
            patch.setenv(name, value)
        ours = [flowplan_configuration(backend, case) for case in batch]
    secrets = [secret for secret in secret_texts() if len(secret) > 4]
    for case, mine, theirs in zip(batch, ours, answers, strict=True):
        text = json.dumps(mine)
        if "error" in mine:
            assert not [secret for secret in secrets if secret in text], mine
        if "error" in mine and "configuration" in theirs and _embedded_container(mine["error"]):
            departures += 1
            continue
        if "error" in theirs or "error" in mine:
            if ("error" in theirs) != ("error" in mine):
                found.append(f"{json.dumps(case)}\n  flowplan: {mine}\n  Prefect: {theirs}")
            continue
        if _comparable(mine) != _comparable(theirs["configuration"]):
            if _env_json_for_repr(mine, theirs["configuration"]):
                departures += 1
                continue
            found.append(f"{json.dumps(case)}\n  flowplan: {json.dumps(mine)}\n"
                         f"  Prefect:  {json.dumps(theirs['configuration'])}")  # fmt: skip
        held = [secret for secret in secrets if secret in text]
        if held:
            with_secrets += 1
            cleaned = masking.clean(text)
            assert not [secret for secret in held if secret in cleaned], (case, cleaned)
    return found, departures, with_secrets


def _env_json_for_repr(mine: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """The configurations differ only in `env` values that are JSON text here and Python's
    repr of the same mapping or list in Prefect's."""
    if {**mine, "env": None} != {**theirs, "env": None} or set(mine["env"]) != set(theirs["env"]):
        return False
    for key, value in mine["env"].items():
        if value == theirs["env"][key]:
            continue
        try:
            same = json.loads(value) == ast.literal_eval(theirs["env"][key])
        except (ValueError, SyntaxError, TypeError):
            return False
        if not same or not isinstance(json.loads(value), dict | list):
            return False
    return True


def _embedded_container(error: str) -> bool:
    return error.startswith("{{ prefect.variables.") and (
        "holds a dict and cannot be used for inline" in error
        or "holds a list and cannot be used for inline" in error
    )


def _comparable(configuration: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(configuration))


def test_a_runs_job_configuration_equals_prefects_workers(tmp_path: Path) -> None:
    batch = collect(job_variables.cases(), COUNT)
    assert len(batch) > COUNT * 0.9
    found, departures, with_secrets = differences(batch, tmp_path)
    assert with_secrets >= 10 and departures < COUNT / 10
    assert not found, f"{len(found)} of {len(batch)} cases differ:\n" + "\n".join(found[:30])
