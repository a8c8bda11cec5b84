"""`deploy -cl N --collision-strategy S`, as `prefect deploy` takes them (PREFECT-COMPAT: a
plain limit, or `{limit, collision_strategy}` when a strategy is given; a strategy alone is
ignored, and flowplan says so)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from flowplan.backends import get_backend
from tests.conftest import Result

Cli = Callable[..., Result]
FLOW = "from prefect import flow\n\n@flow\ndef etl():\n    pass\n"


@pytest.fixture
def deploy(cli: Cli, project: Callable[..., Path]) -> Callable[..., Result]:
    project({"flows/etl.py": FLOW})
    return lambda *args: cli("deploy", "flows/etl.py:etl", "-n", "d", "-p", "p", "--pool-type",
                             "process", *args)  # fmt: skip


def test_a_limit_with_a_collision_strategy(deploy: Callable[..., Result]) -> None:
    result = deploy("-cl", "2", "--collision-strategy", "CANCEL_NEW")
    assert result.code == 0, result.err
    stored = get_backend().read_deployment("etl/d")
    assert (stored.concurrency_limit, stored.concurrency_options) == (
        2, {"collision_strategy": "CANCEL_NEW"})  # fmt: skip
    plain = deploy("--concurrency-limit", "3")
    assert plain.code == 0, plain.err
    stored = get_backend().read_deployment("etl/d")
    assert (stored.concurrency_limit, stored.concurrency_options) == (3, None)


def test_a_strategy_alone_is_ignored_with_a_warning(deploy: Callable[..., Result]) -> None:
    result = deploy("--collision-strategy", "ENQUEUE")
    assert result.code == 0, result.err
    assert ("warning: --collision-strategy is ignored without --concurrency-limit (as in"
            " Prefect)") in result.err  # fmt: skip
    assert get_backend().read_deployment("etl/d").concurrency_limit is None


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--collision-strategy", "CANCEL"], "'CANCEL' is not one of 'ENQUEUE', 'CANCEL_NEW'"),
     (["-cl", "0"], "0 is not in the range x>=1")],
)  # fmt: skip
def test_bad_values_are_refused(
    deploy: Callable[..., Result], args: list[str], message: str
) -> None:
    result = deploy(*args)
    assert result.code == 1 and message in result.err
    assert get_backend().read_deployments() == []
