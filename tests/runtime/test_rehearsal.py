"""The fork server's rehearsal, in this process: a trivial run through the engine's own path
that ends COMPLETED with a run's log lines, and leaves nothing behind that a forked run would
inherit (its directory, modules, import path, streams, logging, run context), and starts no
thread (the fork server refuses to fork with one running)."""

from __future__ import annotations

import gc
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import CodeType, FrameType, FunctionType

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


def test_preload_packs_the_code_after_the_rehearsal(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(rehearsal, "rehearse", lambda: calls.append("rehearsed"))
    monkeypatch.setattr(rehearsal, "pack_code", lambda: calls.append("packed"))
    engine.preload()
    assert calls == ["rehearsed", "packed"]


@pytest.fixture
def functions_code() -> Iterator[None]:
    """Every function's code object as it is, given back after the test (packing gives the
    functions of this process copies of theirs, as it does the fork server's)."""
    before = {f: f.__code__ for f in gc.get_objects() if isinstance(f, FunctionType)}
    try:
        yield
    finally:
        for function, code in before.items():
            function.__code__ = code


def test_packing_gives_what_a_run_calls_copies_of_its_code(functions_code: None) -> None:
    info = logging.Logger.info.__code__
    profiler = sys.getprofile()
    rehearsal.rehearse()
    copies = rehearsal.pack_code()
    assert sys.getprofile() is profiler  # a profiler in place before is in place after
    # the functions a run calls run copies of their code, the same code
    assert logging.Logger.info.__code__ is copies[id(info)] and copies[id(info)] == info
    assert len(copies) > 100
    # a run after it completes and executes only the copies (what a comprehension or a nested
    # function runs too), but for its own flow file's code, new each run
    executed: list[CodeType] = []

    def note(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            executed.append(frame.f_code)

    collecting = gc.isenabled()
    gc.disable()  # (a collection now would run the finalizers of other tests' garbage)
    sys.setprofile(note)
    try:
        told = rehearsal.rehearse()
    finally:
        sys.setprofile(profiler)
        if collecting:
            gc.enable()
    assert told.states == [StateType.COMPLETED]
    copied = {id(code) for code in copies.values()}
    assert sorted(
        f"{Path(code.co_filename).name}:{code.co_name}"
        for code in {id(code): code for code in executed}.values() if id(code) not in copied
    ) == [f"{rehearsal.MODULE}.py:<module>", f"{rehearsal.MODULE}.py:rehearsal"]  # fmt: skip


# As the fork server does it, in a process of its own (in a long-lived one, such as this
# test's, the copies also fill the holes its allocator has): the pages the code a run executes
# lay on, before and after
PAGES = """
import gc, json, types
from flowplan.runtime import engine, rehearsal

originals = {id(f.__code__): f.__code__ for f in gc.get_objects()
             if isinstance(f, types.FunctionType)}
packed = []
real = rehearsal.pack_code
rehearsal.pack_code = lambda: packed.append(real())
engine.preload()
moved = [originals[key] for key in packed[0] if key in originals]
pages = lambda codes: len({id(code) >> 12 for code in codes})
print(json.dumps([pages(moved), pages(packed[0][id(code)] for code in moved)]))
"""


def test_packed_the_code_a_run_executes_lies_on_far_fewer_pages() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PAGES], capture_output=True, text=True, check=True
    )  # fmt: skip
    before, after = json.loads(done.stdout)
    assert before > 100
    assert after < before * 0.6  # (169 -> 75 in bench/fork_pages_bench.py)
