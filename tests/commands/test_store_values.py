"""No value the store or the target cannot hold gets written: non-finite numbers, integers past
what Prefect's database stores, intervals a timedelta cannot hold. validate, plan, apply, the
command-line options and the Python API refuse them alike, with exit 1 and a message."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from flowplan.backends import get_backend
from flowplan.backends.local import STORE_FILE
from flowplan.domain.specs import DeploymentSpec
from tests.conftest import Result

Cli = Callable[..., Result]

FLOW = """
from flowplan import flow

@flow
def f(cfg: dict = {}, n: float = 1.0):
    pass
"""


def _project(parameters: str = "{cfg: {v: 1}}", extra: str = "") -> str:
    return f"""
name: demo
work_pools:
  - name: local
    type: process
deployments:
  - name: d
    entrypoint: flows/f.py:f
    parameters: {parameters}
    work_pool: {{name: local}}
{extra}"""


@pytest.fixture
def proj(project: Callable[..., Path]) -> Callable[..., Path]:
    def make(parameters: str = "{cfg: {v: 1}}", extra: str = "") -> Path:
        return project({"flows/f.py": FLOW, "prefect.yaml": _project(parameters, extra)})

    return make


def _store_rows(home: Path) -> list[tuple[str, str]]:
    path = home / STORE_FILE
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT name, parameters FROM deployments").fetchall()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / ".flowplan-home"


@pytest.mark.parametrize(
    ("value", "shown", "column"),
    [(".inf", ".inf", 27), ("-.inf", "-.inf", 27), (".nan", ".nan", 27),
     ("1.0e+400", ".inf", 27)],
)  # fmt: skip
def test_a_number_that_is_not_finite_is_refused_by_validate_plan_and_apply(
    cli: Cli, proj: Callable[..., Path], home: Path, value: str, shown: str, column: int
) -> None:
    proj(f"{{cfg: {{v: {value}}}}}")
    for command in (("validate",), ("plan",), ("apply", "--auto-approve")):
        result = cli(*command)
        assert result.code == 1, (command, result)
        assert (
            f"prefect.yaml:8:{column}: deployments[0].parameters.cfg.v: {shown} is not a finite"
            " number" in result.err + result.out
        )
    assert _store_rows(home) == []  # nothing was written


def test_limits_past_what_the_target_stores_are_refused_with_their_position(
    cli: Cli, proj: Callable[..., Path]
) -> None:
    proj(extra="    concurrency_limit: 99999999999999999999\n")
    text = (Path("prefect.yaml").read_text()).replace(
        "    type: process\n",
        "    type: process\n    concurrency_limit: 9223372036854775808\n"
        "    queues: [{name: q, priority: 9223372036854775808}]\n",
    )
    Path("prefect.yaml").write_text(text)
    result = cli("validate")
    assert result.code == 1
    assert result.out.splitlines()[:3] == [
        "error: prefect.yaml:5:24: work_pools[0].concurrency_limit: concurrency limit must be"
        " at most 2,147,483,647, got 9223372036854775808",
        "error: prefect.yaml:6:34: work_pools[0].queues[0].priority: priority must be at most"
        " 2,147,483,647, got 9223372036854775808",
        "error: prefect.yaml:12:24: deployments[0].concurrency_limit: concurrency limit must be"
        " at most 2,147,483,647, got 99999999999999999999",
    ]


@pytest.mark.parametrize(
    ("interval", "message"),
    [("0.0000001", "at least 1 microsecond (0.000001 s), got 1e-07, which rounds to 0"),
     ("PT0.0000001S", "at least 1 microsecond"),
     ("1" * 321, "at most 999,999,999 days (86,399,999,913,600 s), got a number that large"),
     ("'" + "1" * 321 + "'", "at most 999,999,999 days"),
     ("P99999999999W", "at most 999,999,999 days")],
)  # fmt: skip
def test_intervals_a_timedelta_cannot_hold_are_refused_by_validate_and_plan(
    cli: Cli, proj: Callable[..., Path], home: Path, interval: str, message: str
) -> None:
    proj(extra=f"    schedules:\n      - interval: {interval}\n")
    for command in (("validate",), ("plan",), ("apply", "--auto-approve")):
        result = cli(*command)
        assert result.code == 1, (command, result)
        assert "prefect.yaml:11:19: deployments[0].schedules[0].interval: invalid interval" in (
            result.out
        )
        assert message in result.out
    assert _store_rows(home) == []


def test_an_infinite_interval_is_reported_once(cli: Cli, proj: Callable[..., Path]) -> None:
    proj(extra="    schedules:\n      - interval: .inf\n")
    result = cli("validate")
    assert result.code == 1
    assert result.out.splitlines() == [
        "error: prefect.yaml:11:19: deployments[0].schedules[0].interval: .inf is not a finite"
        " number: it cannot be stored or sent (JSON has no Infinity or NaN; give a finite"
        " number, or quote it to make it text)",
        "1 error, 0 warnings in 1 file.",
    ]


def test_a_variable_that_renders_to_infinity_is_refused_by_plan(
    cli: Cli, proj: Callable[..., Path], home: Path
) -> None:
    proj("{cfg: {v: '{{ prefect.variables.big }}'}}")
    # an older flowplan stored it; a variable's value goes into parameters when rendered
    get_backend().set_variable("big", 1)
    with sqlite3.connect(home / STORE_FILE) as conn:
        conn.execute("UPDATE variables SET value = 'Infinity' WHERE name = 'big'")
    result = cli("plan")
    assert result.code == 1
    assert "deployment 'f/d': parameters.cfg.v: Infinity is not a finite number" in result.err
    assert cli("apply", "--auto-approve").code == 1
    assert _store_rows(home) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [(("work-pool", "set-concurrency-limit", "local", "99999999999999999999"),
      "concurrency limit must be at most 2,147,483,647, got 99999999999999999999"),
     (("work-pool", "create", "p2", "--type", "process", "--concurrency-limit",
       "9223372036854775808"), "concurrency limit must be at most 2,147,483,647"),
     (("work-queue", "create", "q", "--pool", "local", "--priority", "9223372036854775808"),
      "priority must be at most 2,147,483,647, got 9223372036854775808"),
     (("work-queue", "create", "q", "--pool", "local", "--limit", "9223372036854775808"),
      "concurrency limit must be at most 2,147,483,647"),
     (("work-queue", "set-concurrency-limit", "default", "99999999999999999999", "--pool",
       "local"), "concurrency limit must be at most 2,147,483,647"),
     (("flow-run", "ls", "--limit", "99999999999999999999"),
      "--limit must be at most 2,147,483,647"),
     (("flow-run", "logs", "x", "--tail", "99999999999999999999"),
      "--tail must be at most 2,147,483,647"),
     (("worker", "start", "--pool", "local", "--poll-interval", "nan"),
      "--poll-interval must be between 0.001 and 86,400 seconds, got nan"),
     (("worker", "start", "--pool", "local", "--heartbeat-interval", "inf"),
      "--heartbeat-interval must be between 0.001 and 86,400 seconds, got inf"),
     (("worker", "start", "--pool", "local", "--limit", "99999999999999999999"),
      "--limit must be at most 2,147,483,647"),
     (("deployment", "schedule", "create", "f/d", "--interval", "0.0000001"),
      "--interval: interval must be at least 1 microsecond (0.000001 s), got 1e-07"),
     (("deployment", "schedule", "create", "f/d", "--interval", "1e400"),
      "--interval: interval must be at most 999,999,999 days"),
     (("deployment", "schedule", "create", "f/d", "--interval", "1" * 321),
      "--interval: interval must be at most 999,999,999 days"),
     (("deployment", "schedule", "create", "f/d", "--cron", "0 * * * *", "--parameters",
       '{"n": NaN}'), "parameters: n: NaN is not a finite number"),
     (("deployment", "run", "f/d", "--watch", "--timeout", "nan"),
      "--timeout must be between 0 and 315,360,000 seconds, got nan"),
     (("deployment", "run", "f/d", "--start-in", "99999999999999999999999 days"),
      "--start-in must be between 0 and 315,360,000 seconds"),
     (("deployment", "run", "f/d", "-p", "n=Infinity"),
      "flow run parameters: n: Infinity is not a finite number"),
     (("deployment", "run", "f/d", "-jv", '{"x": -Infinity}'),
      "flow run job variables: x: -Infinity is not a finite number"),
     (("variable", "set", "v", "NaN"), "variable 'v': the value: NaN is not a finite number"),
     (("deploy", "-n", "d", "--interval", "0.0000001", "--no-prompt"),
      "interval must be at least 1 microsecond")],
)  # fmt: skip
def test_command_line_values_the_store_cannot_hold_are_refused(
    cli: Cli, proj: Callable[..., Path], home: Path, args: tuple[str, ...], message: str
) -> None:
    proj()
    assert cli("apply", "--auto-approve").code == 0
    before = _dump(home)
    result = cli(*args)
    assert result.code == 1, result
    assert message in result.err
    assert "Internal error" not in result.err
    assert _dump(home) == before  # nothing was written
    assert cli("deployment", "ls").code == 0


def _dump(home: Path) -> list[str]:
    with sqlite3.connect(home / STORE_FILE) as conn:
        tables = ("work_pools", "work_queues", "deployments", "deployment_schedules",
                  "flow_runs", "variables")  # fmt: skip
        return [
            json.dumps(row, default=str)
            for table in tables
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
        ]


@pytest.mark.parametrize(
    ("interval", "error"),
    [(1e-7, "at least 1 microsecond"), (10**400, "at most 999,999,999 days"),
     (float("inf"), "at most 999,999,999 days"), (float("nan"), "must be a number")],
)  # fmt: skip
def test_the_python_api_raises_value_error_for_a_bad_interval(interval: object, error: str) -> None:
    import flowplan

    with pytest.raises(ValueError, match=error):
        flowplan.IntervalSchedule(interval)  # type: ignore[arg-type]


def test_the_python_api_refuses_parameters_the_store_cannot_hold(home: Path) -> None:
    backend = get_backend()
    backend.create_work_pool("local", "process")
    spec = DeploymentSpec("f", "d", parameters={"x": [float("nan")]}, work_pool_name="local")
    with pytest.raises(ValueError, match=r"deployment 'f/d': parameters\.x\[0\]: NaN is not"):
        backend.upsert_deployments([spec])
    deep: list[object] = []
    for _ in range(2000):
        deep = [deep]
    with pytest.raises(ValueError, match="nested more than 500 levels"):
        backend.upsert_deployments([DeploymentSpec("f", "d", job_variables={"x": deep})])
    assert backend.read_deployments() == []
