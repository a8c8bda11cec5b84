"""Ctrl-C while watching a run stops the watching only, and says so (the real process in a
pseudo-terminal)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect

from flowplan.backends.local import LocalBackend
from flowplan.domain.objects import StateType
from flowplan.domain.specs import DeploymentSpec

FLOWPLAN = str(Path(sys.executable).with_name("flowplan"))


def test_ctrl_c_in_watch_says_the_run_goes_on_and_how_to_cancel_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = LocalBackend(home / "flowplan.db")
    store.create_work_pool("idle", "process")  # no worker: the run waits
    store.upsert_deployments([DeploymentSpec("etl", "nightly", work_pool_name="idle")])
    store.close()
    env = {**os.environ, "FLOWPLAN_HOME": str(home), "NO_COLOR": "1", "TERM": "xterm"}
    child = pexpect.spawn(FLOWPLAN, ["deployment", "run", "etl/nightly", "--watch"],
                          cwd=str(tmp_path), env=env, encoding="utf-8", timeout=30)  # fmt: skip
    child.expect(r"is Scheduled\.")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    [run] = LocalBackend(home / "flowplan.db").read_flow_runs()
    assert run.state.type is StateType.SCHEDULED  # still there, still to run
    said = " ".join(str(child.before).split())
    assert (
        f"Stopped watching; flow run {run.id} goes on. To cancel it: flowplan flow-run cancel"
        f" {run.id}"
    ) in said
