"""Tests for the mutations a mutation run found the suite did not notice (issue 13): each
fails when the named piece of core logic is broken that way."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from flowplan.backends import get_backend
from flowplan.backends.local import LocalBackend
from flowplan.domain.specs import HASH_LABEL
from flowplan.errors import FlowplanError
from flowplan.plan.comparable import core_fields, digest
from flowplan.plan.lock import LOCK, apply_lock
from flowplan.project.loader import load_file
from tests.conftest import Result

Cli = Callable[..., Result]
FLOW = "from prefect import flow\n\n@flow\ndef hello(who: str = 'x'):\n    pass\n"


def test_queue_updates_are_stored(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "flowplan.db")
    backend.create_work_pool("p", "process")
    backend.create_work_queue("p", "q", priority=2)
    backend.update_work_queue("p", "q", {"description": "d", "is_paused": True,
                                         "concurrency_limit": 3})  # fmt: skip
    queue = backend.read_work_queue("p", "q")
    assert (queue.description, queue.is_paused, queue.concurrency_limit) == ("d", True, 3)


def test_apply_writes_the_spec_hash_and_a_hand_edit_is_drift(
    cli: Cli, project: Callable[..., Path]
) -> None:
    project({"flows/hello.py": FLOW, "prefect.yaml":
             "deployments:\n  - {name: d, entrypoint: flows/hello.py:hello, work_pool: {name: p}}\n"})  # fmt: skip
    get_backend().create_work_pool("p", "process")
    assert cli("apply", "--auto-approve").code == 0
    stored = get_backend().read_deployment("hello/d")
    assert stored.labels[HASH_LABEL] == digest(core_fields(stored))[:16]
    get_backend().update_deployment(stored.id, {"description": "by hand"})
    assert "(changed outside flowplan since the last apply)" in cli("plan").out


def test_merge_keys_take_the_earlier_source(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("a: &a {x: 1, y: 1}\nb: &b {x: 2, z: 2}\nc:\n  <<: [*a, *b]\n  y: 3\n")
    assert load_file(path).data["c"] == {"x": 1, "y": 3, "z": 2}


def test_job_variables_from_the_command_line_merge_over_the_files(
    cli: Cli, project: Callable[..., Path]
) -> None:
    project({"flows/hello.py": FLOW, "prefect.yaml": (
        "deployments:\n  - name: d\n    entrypoint: flows/hello.py:hello\n    work_pool:\n"
        "      name: p\n      job_variables: {env: {A: '1'}, working_dir: /srv}\n")})  # fmt: skip
    get_backend().create_work_pool("p", "process")
    assert cli("deploy", "-n", "d", "-jv", '{"env": {"B": "2"}}').code == 0
    assert get_backend().read_deployment("hello/d").job_variables == {
        "env": {"A": "1", "B": "2"}, "working_dir": "/srv"}  # fmt: skip


def test_work_pools_are_templated(
    cli: Cli, project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    project({"flows/hello.py": FLOW, "prefect.yaml": (
        "work_pools:\n  - {name: pool, type: process, description: 'for {{ $TEAM }}'}\n"
        "deployments:\n  - {name: d, entrypoint: flows/hello.py:hello, work_pool: {name: pool}}\n")})  # fmt: skip
    monkeypatch.setenv("TEAM", "data")
    assert cli("apply", "--auto-approve").code == 0
    assert get_backend().read_work_pool("pool").description == "for data"


def test_a_lock_held_on_another_host_is_not_taken_over(tmp_path: Path) -> None:
    """Whether a holder is alive can only be known on its own host: a pid that does not exist
    here says nothing about another machine's process."""
    backend = LocalBackend(tmp_path / "flowplan.db")
    missing = 4_000_000  # above Linux's pid_max: no such process here
    other = f"another-host:{missing}:abcd1234"
    assert backend.acquire_lease(LOCK, other, 3600) is not None
    with pytest.raises(FlowplanError, match="another apply holds the lock"), \
            apply_lock(backend, 0.2):  # fmt: skip
        pass
    assert backend.read_lease(LOCK).holder == other  # type: ignore[union-attr]


def test_stored_times_are_iso_text_in_utc(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "flowplan.db")
    backend.create_work_pool("p", "process")
    (created,) = backend.store.connection.execute("SELECT created FROM work_pools").fetchone()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", created)
