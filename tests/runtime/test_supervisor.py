"""A run's supervisor in this process, on an infrastructure the test drives (its run's
output, when it ends and how), with the real store and the worker's real reporting channel:
how each way a run can end is reported, cancelling and the worker's own timeout stop it by
its grace period, leftovers are ended, and a run that cannot start is never lost."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from flowplan import masking
from flowplan.backends.local import LocalBackend
from flowplan.domain.job_config import WorkPoolJobConfiguration
from flowplan.domain.objects import FlowRun, StateType
from flowplan.errors import FlowplanError
from flowplan.runtime import reporter, supervisor
from flowplan.runtime.infrastructure import Exit
from flowplan.runtime.reporter_server import ReporterServer
from flowplan.runtime.supervisor import Settings, Supervisor
from tests.runtime.helpers import deployment, store


class Handle:
    id = "fake 1"

    def __init__(self, lines: list[str], leftovers: bool = False) -> None:
        self._lines = lines
        self._leftovers = leftovers
        self.exit: Exit | None = None
        self.ended = threading.Event()
        self.calls: list[Any] = []
        self.env: Mapping[str, str] = {}

    def end(self, exit: Exit) -> None:
        if self.exit is None:
            self.exit = exit
        self.ended.set()

    def lines(self) -> Iterator[str]:
        yield from self._lines

    def wait(self, timeout: float | None = None) -> Exit | None:
        self.ended.wait()
        return self.exit

    def terminate(self, grace: float) -> None:
        self.calls.append(("terminate", grace))
        self.end(Exit(-15))

    def kill(self) -> None:
        self.calls.append("kill")
        self.end(Exit(-9))

    def leftovers(self) -> bool:
        return self._leftovers

    def end_leftovers(self, grace: float) -> None:
        self.calls.append(("end_leftovers", grace))

    def release(self) -> None:
        self.calls.append("release")


class Infra:
    pool_type = "process"

    def __init__(self, handle: Handle, during: Any = None) -> None:
        self.handle, self.during = handle, during
        self.launched: list[tuple[str, dict[str, str]]] = []

    def environment(self, run: FlowRun, config: WorkPoolJobConfiguration) -> dict[str, str]:
        return {"FROM_INFRA": "1", **config.env}

    def launch(
        self, run: FlowRun, config: WorkPoolJobConfiguration, env: Mapping[str, str]
    ) -> Handle:
        self.launched.append((run.id, dict(env)))
        if isinstance(self.during, Exception):
            raise self.during
        if self.during is not None:
            self.during(env)
        return self.handle


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.backend: LocalBackend = store(tmp_path / "home")
        self.said: list[str] = []
        self.exits: list[Supervisor] = []
        self.channel = ReporterServer(lambda: store(tmp_path / "home"))

    def run(self, **deployment_fields: Any) -> FlowRun:
        deployment(self.backend, self.tmp_path, **deployment_fields)
        run = self.backend.create_flow_run("f/d", name="the-run")
        claimed = self.backend.claim_flow_runs("pool", "w1")
        assert [c.id for c in claimed] == [run.id]
        return claimed[0]

    def supervisor(self, run: FlowRun, infra: Infra, found: Any = "read") -> Supervisor:
        return Supervisor(
            run, self.backend, infra, Settings(worker="w1", pool="pool", grace=3.0),  # type: ignore[arg-type]
            self.said.append, self.exits.append, self.channel,
            None if found == "read" else found,
        )  # fmt: skip

    def state(self, run: FlowRun) -> tuple[StateType, str, str | None]:
        state = self.backend.read_flow_run(run.id).state
        return state.type, state.name, state.message


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    yield harness
    harness.channel.close()


def supervise(sup: Supervisor) -> threading.Thread:
    thread = threading.Thread(target=sup.supervise, daemon=True)
    thread.start()
    return thread


def test_a_run_that_reports_its_final_state_through_the_channel_is_left_so(h: Harness) -> None:
    run = h.run(job_variables={"env": {"FROM_JOB": "2"}})
    handle = Handle(["hello", "world"])

    def engine(env: Mapping[str, str]) -> None:  # what the run's engine does, by the channel
        channel = reporter.SocketReporter(env[reporter.ENV])
        try:
            channel.start(run.id)
            channel.finish(run.id, StateType.COMPLETED)
        finally:
            channel.close()
        handle.end(Exit(0))

    infra = Infra(handle, engine)
    sup = h.supervisor(run, infra)
    sup.supervise()
    assert h.state(run)[:2] == (StateType.COMPLETED, "Completed")
    assert h.said == [
        f"Flow run 'the-run' ({run.id}) started, fake 1.",
        "the-run | hello", "the-run | world",
        "Flow run 'the-run' finished: Completed.",
    ]  # fmt: skip
    env = infra.launched[0][1]
    assert env["FROM_INFRA"] == "1" and env["FROM_JOB"] == "2"
    assert env[reporter.ENV].startswith(f"unix:{h.channel.path} ")
    assert h.exits == [sup] and sup.exited.is_set()
    assert handle.calls == ["release"]  # no leftovers: nothing to end
    assert h.channel.final_state(run.id) is None  # its token was given back


def test_a_final_state_written_to_the_store_is_read_back(h: Harness) -> None:
    run = h.run(job_variables={"stream_output": False})
    handle = Handle(["not streamed"])

    def engine(env: Mapping[str, str]) -> None:
        h.backend.set_flow_run_state(run.id, StateType.RUNNING)
        h.backend.set_flow_run_state(run.id, StateType.FAILED, message="it failed")
        handle.end(Exit(1))

    h.supervisor(run, Infra(handle, engine)).supervise()
    assert h.said == [f"Flow run 'the-run' ({run.id}) started, fake 1.",
                      "Flow run 'the-run' finished: Failed."]  # fmt: skip


def test_a_run_that_ends_without_a_final_state_is_crashed_with_its_last_output(
    h: Harness,
) -> None:
    run = h.run()
    secret = "zz-supervisor-secret-9"
    masking.register(secret)
    lines = [f"line {n}" for n in range(20)] + [f"token={secret}"]
    handle = Handle(lines, leftovers=True)
    handle.end(Exit(1))
    sup = h.supervisor(run, Infra(handle))
    sup.supervise()
    kind, name, message = h.state(run)
    assert (kind, name) == (StateType.CRASHED, "Crashed")
    tail = [f"line {n}" for n in range(6, 20)] + ["token=********"]
    assert message == (
        "Process exited with status code 1 before reporting a final state; last output:\n"
        + "\n".join(tail)
    )
    assert h.said[-1] == (
        "Flow run 'the-run' crashed: Process exited with status code 1 before reporting a"
        " final state; last output:"
    )
    assert ("end_leftovers", 3.0) in handle.calls and "release" in handle.calls


@pytest.mark.parametrize(
    ("exit", "message"),
    [
        (Exit(-9), "Process was killed by signal SIGKILL"),
        (Exit(255, "the worker's fork server died"), "the worker's fork server died"),
        (Exit(0), "Process exited with status code 0 before reporting a final state"),
    ],
)
def test_how_a_crashed_run_ended_is_said(h: Harness, exit: Exit, message: str) -> None:
    run = h.run()
    handle = Handle([])
    handle.end(exit)
    h.supervisor(run, Infra(handle)).supervise()
    assert h.state(run) == (StateType.CRASHED, "Crashed", message)
    assert h.said[-1] == f"Flow run 'the-run' crashed: {message}"


def test_a_cancelled_run_is_stopped_by_its_grace_period_and_recorded_cancelled(
    h: Harness,
) -> None:
    run = h.run()
    handle = Handle(["working"])
    sup = h.supervisor(run, Infra(handle))
    thread = supervise(sup)
    assert sup.exited.wait(0) is False
    while sup.handle is None:  # launched
        threading.Event().wait(0.01)
    sup.cancel()
    sup.cancel()  # once only
    thread.join(30)
    assert not thread.is_alive()
    assert handle.calls.count(("terminate", 3.0)) == 1
    assert h.state(run) == (
        StateType.CANCELLED, "Cancelled", "Cancelled: the run's process was stopped"
    )  # fmt: skip
    assert h.said[-1] == "Flow run 'the-run' cancelled."


def test_a_run_cancelled_before_it_launched_is_stopped_once_launched(h: Harness) -> None:
    run = h.run()
    handle = Handle([])
    sup = h.supervisor(run, Infra(handle))
    sup.cancel()
    assert handle.calls == []  # nothing to stop yet
    sup.supervise()
    assert handle.calls[0] == ("terminate", 3.0)
    assert h.state(run)[0] is StateType.CANCELLED


def test_a_run_of_a_worker_being_stopped_is_killed_and_crashed_saying_so(h: Harness) -> None:
    run = h.run()
    handle = Handle([])
    sup = h.supervisor(run, Infra(handle))
    sup.kill()  # before launch: nothing to kill yet
    assert handle.calls == []
    thread = supervise(sup)
    while sup.handle is None:
        threading.Event().wait(0.01)
    sup.kill()
    thread.join(30)
    assert handle.calls[0] == "kill"
    assert h.state(run) == (
        StateType.CRASHED, "Crashed", "Worker 'w1' was stopped while the run was in progress"
    )  # fmt: skip


def test_a_flow_past_its_timeout_is_stopped_by_the_worker_and_timed_out(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervisor, "TIMEOUT_MARGIN", 0.0)
    run = h.run()
    handle = Handle([])
    sup = h.supervisor(run, Infra(handle))

    def engine(env: Mapping[str, str]) -> None:
        sup._flow_call(0.05)  # the engine calls the flow with its timeout, which it ignores

    sup = h.supervisor(run, Infra(handle, engine))
    sup.supervise()
    assert sup.timed_out == 0.05
    assert handle.calls[0] == ("terminate", 3.0)
    assert h.state(run) == (
        StateType.FAILED, "TimedOut",
        "Flow run exceeded timeout of 0.05 seconds; the worker stopped its process (the flow"
        " did not stop by itself)",
    )  # fmt: skip
    assert "Flow run 'the-run' exceeded its timeout of 0.05 s: stopping it." in h.said
    assert h.said[-1] == "Flow run 'the-run' timed out."


def test_the_timer_is_off_when_the_flow_call_ended_or_had_no_timeout(h: Harness) -> None:
    run = h.run()
    sup = h.supervisor(run, Infra(Handle([])))
    sup._flow_call(30.0)
    timer = sup._timer
    assert timer is not None and timer.interval == 30.0 + supervisor.TIMEOUT_MARGIN
    assert timer.daemon
    sup._flow_call(None)  # the call ended
    assert sup._timer is None and timer.finished.is_set()
    sup._flow_call(0)
    assert sup._timer is None
    sup.exited.set()
    sup._flow_call(5.0)  # the run's process ended already
    assert sup._timer is None
    sup._time_out(5.0)  # a timer that fired as it ended: nothing to do
    assert sup.timed_out is None


def test_a_run_whose_deployment_is_gone_is_cancelled(h: Harness) -> None:
    run = h.run()
    pool = h.backend.read_work_pool("pool")
    infra = Infra(Handle([]))
    h.supervisor(run, infra, found=(pool, None)).supervise()
    assert h.state(run) == (
        StateType.CANCELLED, "Cancelled",
        f"Deployment {run.deployment_id} no longer exists, cancelled run.",
    )  # fmt: skip
    assert infra.launched == []


def test_the_pool_and_deployment_are_read_when_not_given(h: Harness) -> None:
    run = h.run(job_variables={"env": {"FROM_JOB": "3"}})
    handle = Handle([])
    handle.end(Exit(0))
    infra = Infra(handle)
    h.supervisor(run, infra).supervise()  # the deployment's job variables reached the run
    assert infra.launched[0][1]["FROM_JOB"] == "3"
    run = h.run()
    gone = FlowRun.from_json({**run.to_json(), "deployment_id": "no-such-deployment"})
    infra = Infra(Handle([]))
    sup = h.supervisor(gone, infra)
    sup.supervise()
    assert h.state(run) == (
        StateType.CANCELLED, "Cancelled",
        "Deployment no-such-deployment no longer exists, cancelled run.",
    )  # fmt: skip
    assert infra.launched == [] and h.exits[-1] is sup


@pytest.mark.parametrize(
    ("error", "detail"),
    [
        (FlowplanError("no image named x"), "no image named x"),
        (ValueError("bad value"), "ValueError: bad value"),
    ],
)
def test_a_run_that_cannot_start_is_crashed_saying_why(
    h: Harness, error: Exception, detail: str
) -> None:
    run = h.run()
    sup = h.supervisor(run, Infra(Handle([]), error))
    sup.supervise()
    message = f"Worker failed to run the flow: {detail}"
    assert h.state(run) == (StateType.CRASHED, "Crashed", message)
    assert h.said == [f"Flow run 'the-run': {message}"]
    assert h.exits == [sup]


def test_a_final_state_reached_meanwhile_stands(h: Harness) -> None:
    run = h.run()
    h.backend.set_flow_run_state(run.id, StateType.RUNNING)
    h.backend.set_flow_run_state(run.id, StateType.COMPLETED)
    sup = h.supervisor(run, Infra(Handle([])))
    sup._finish(StateType.CRASHED, "too late")  # refused by the store: no error
    assert h.state(run)[0] is StateType.COMPLETED
