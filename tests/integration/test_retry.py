"""`flow-run retry`: a finished run is scheduled again and a real worker runs it again."""

from __future__ import annotations

from pathlib import Path

from flowplan.domain.objects import StateType
from tests.integration.workers import Workers, wait_for
from tests.runtime.helpers import deployment, store

FLAKY = """
    from pathlib import Path

    from flowplan import flow

    @flow
    def f():
        marker = Path(__file__).with_name("tried")
        if not marker.exists():
            marker.write_text("once")
            raise RuntimeError("first try fails")
        print("second try works")
    """


def test_a_failed_run_retried_by_name_runs_again(tmp_path: Path, workers: Workers) -> None:
    backend = store(workers.home)
    deployment(backend, tmp_path, source=FLAKY)
    workers.start()
    failed = workers.cli("deployment", "run", "f/d", "--flow-run-name", "flaky", "--watch")
    assert failed.returncode == 1, failed.stderr
    early = workers.cli("flow-run", "retry", "nope")
    assert early.returncode == 1 and "flow run 'nope' not found" in early.stderr
    retried = workers.cli("flow-run", "retry", "flaky")
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout == (
        "Flow run 'flaky' is scheduled again; a worker on its pool picks it up.\n"
    )
    [run] = backend.read_flow_runs()
    done = wait_for("the retried run to finish", lambda: (
        r if (r := backend.read_flow_run(run.id)).state.type.is_final else None))  # fmt: skip
    assert done.state.type is StateType.COMPLETED
    assert "second try works" in workers.cli("flow-run", "logs", "flaky").stdout
    again = workers.cli("deployment", "run", "f/d", "--flow-run-name", "waiting",
                     "--start-in", "2 hours")  # fmt: skip
    assert again.returncode == 0, again.stderr
    busy = workers.cli("flow-run", "retry", "waiting")
    assert busy.returncode == 1
    assert (
        "flow run 'waiting' is Scheduled: only a finished run (Completed, Failed, Cancelled or"
        " Crashed) can be retried"
    ) in busy.stderr
