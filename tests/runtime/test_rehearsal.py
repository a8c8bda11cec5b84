"""The fork server's rehearsal, in this process: a trivial run through the engine's own path
that ends COMPLETED with a run's log lines, and leaves nothing behind that a forked run would
inherit (its directory, modules, import path, streams, logging, run context), and starts no
thread (the fork server refuses to fork with one running)."""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

import pytest

from flowplan.domain.objects import Deployment, FlowRun, StateType
from flowplan.errors import ObjectNotFound
from flowplan.runtime import context, engine, rehearsal


def test_the_rehearsal_runs_a_flow_to_completed_with_a_runs_log_lines() -> None:
    told = rehearsal.rehearse()
    assert told.states == [StateType.COMPLETED]
    assert [line.message.partition(" - ")[2] for line in told.lines] == [
        "Running flow run 'rehearsal' of deployment 'rehearsal/rehearsal'",
        "Running 1 deployment pull step",
        "> Running set_working_directory step...",
        "Finished in state Completed()",
    ]
    assert {line.flow_run_id for line in told.lines} == {"rehearsal"}
    assert {line.level for line in told.lines} == {logging.INFO}
    # its run and deployment, from the JSON forms a run's engine reads
    assert told.run == FlowRun.from_json(rehearsal.RUN)
    assert told.run.state.type is StateType.RUNNING
    step = told.deployment.pull_steps and told.deployment.pull_steps[0]
    directory = step["prefect.deployments.steps.set_working_directory"]["directory"]
    assert told.deployment == Deployment.from_json(
        {**rehearsal.DEPLOYMENT, "pull_steps": [step]}
    )  # fmt: skip
    assert Path(directory).name.startswith("flowplan-rehearsal-")
    assert not Path(directory).exists()


def test_the_rehearsal_reporter_is_a_worker_with_no_variables_or_secrets() -> None:
    told = rehearsal.rehearse()
    assert told.start("rehearsal") == (told.run, told.deployment)
    assert told.read_flow_run("rehearsal") is told.run
    assert told.read_deployment("rehearsal") is told.deployment
    assert told.set_flow_run_state("rehearsal", StateType.FAILED) is None
    assert told.states[-1] is StateType.FAILED
    assert told.flow_call("rehearsal", 3.0) is None
    with pytest.raises(ObjectNotFound, match="variable 'region' not found"):
        told.read_variable("region")
    with pytest.raises(ObjectNotFound, match="secret 'token' not found"):
        told.read_secret_value("token")


def test_the_rehearsal_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    monkeypatch.setattr(root, "level", logging.WARNING)  # as Python starts (a run's sink lowers it)
    before = (sys.stdout, sys.stderr, list(sys.path), set(sys.modules), root.level,
              list(root.handlers), set(sys.path_importer_cache), set(threading.enumerate()))  # fmt: skip
    made: list[str] = []
    started: list[threading.Thread] = []
    real_execute, real_start = engine.execute, threading.Thread.start

    def execute(*args: object) -> int:
        made.append(os.getcwd())  # noqa: PTH109 (the directory the rehearsal made and left)
        return real_execute(*args)  # type: ignore[arg-type]

    def start(thread: threading.Thread) -> None:
        started.append(thread)
        real_start(thread)

    monkeypatch.setattr(engine, "execute", execute)
    monkeypatch.setattr(threading.Thread, "start", start)
    rehearsal.rehearse()
    after = (sys.stdout, sys.stderr, list(sys.path), set(sys.modules), root.level,
             list(root.handlers), set(sys.path_importer_cache), set(threading.enumerate()))  # fmt: skip
    assert after == before
    assert Path.cwd() == tmp_path
    assert rehearsal.MODULE not in sys.modules
    assert context.current is None
    assert started == []  # (a thread ended is still one the fork server could see running)
    # the flow ran in a directory of its own, which is gone
    assert len(made) == 1 and Path(made[0]) != tmp_path and not Path(made[0]).exists()
    assert capfd.readouterr() == ("", "")  # its log lines went to the rehearsal only


def test_preload_rehearses_and_a_failed_rehearsal_costs_only_that(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    def fails() -> None:
        calls.append("rehearsed")
        raise RuntimeError("no room for a temporary directory")

    monkeypatch.setattr(rehearsal, "rehearse", fails)
    engine.preload()
    assert calls == ["rehearsed"]
