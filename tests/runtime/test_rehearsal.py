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

from flowplan.domain.objects import StateType
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


def test_the_rehearsal_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    monkeypatch.setattr(root, "level", logging.WARNING)  # as Python starts (a run's sink lowers it)
    before = (sys.stdout, sys.stderr, list(sys.path), set(sys.modules), root.level,
              list(root.handlers), set(sys.path_importer_cache), set(threading.enumerate()))  # fmt: skip
    made: list[str] = []
    real_execute = engine.execute

    def execute(*args: object) -> int:
        made.append(os.getcwd())  # noqa: PTH109 (the directory the rehearsal made and left)
        return real_execute(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "execute", execute)
    rehearsal.rehearse()
    after = (sys.stdout, sys.stderr, list(sys.path), set(sys.modules), root.level,
             list(root.handlers), set(sys.path_importer_cache), set(threading.enumerate()))  # fmt: skip
    assert after == before
    assert Path.cwd() == tmp_path
    assert rehearsal.MODULE not in sys.modules
    assert context.current is None
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
