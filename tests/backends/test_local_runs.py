"""Flow runs in the local store, called in this process: filters and pages, the states an
engine moves a run through (start, finish, a cancel that came first) and the times they set."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from flowplan.backends.local import LocalBackend, retention
from flowplan.domain.clock import utcnow
from flowplan.domain.objects import LogLine, StateType
from flowplan.errors import FlowplanError, InvalidInput
from tests.runtime.helpers import deployment, store


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalBackend]:
    made = store(tmp_path / "home")
    yield made
    made.close()


def test_runs_are_filtered_by_name_and_several_states_together(
    backend: LocalBackend, tmp_path: Path
) -> None:
    made = deployment(backend, tmp_path)
    kept = {}
    for name, state in (("a", StateType.RUNNING), ("a", StateType.FAILED),
                        ("a", StateType.SCHEDULED), ("b", StateType.RUNNING)):  # fmt: skip
        run = backend.create_flow_run(made.id, name=name)
        if state is not StateType.SCHEDULED:
            backend.set_flow_run_state(run.id, state)
        kept[(name, state)] = run.id
    found = backend.read_flow_runs(name="a", states=[StateType.RUNNING, StateType.FAILED])
    assert {run.id for run in found} == {kept[("a", StateType.RUNNING)],
                                         kept[("a", StateType.FAILED)]}  # fmt: skip
    assert len(backend.read_flow_runs()) == 4


def test_a_page_of_runs_is_in_the_default_order_and_narrowed_by_flow(
    backend: LocalBackend, tmp_path: Path
) -> None:
    first = deployment(backend, tmp_path, name="d", flow="f")
    other = deployment(backend, tmp_path, name="e", flow="g")
    now = utcnow()
    made = [backend.create_flow_run(first.id, scheduled_time=now + timedelta(days=n + 1))
            for n in range(3)]  # fmt: skip
    elsewhere = backend.create_flow_run(other.id)
    page = backend.page_flow_runs()  # newest expected start first, from the first
    assert [run.id for run in page] == [*(run.id for run in reversed(made)), elsewhere.id]
    assert [r.id for r in backend.page_flow_runs(flow_ids=[other.flow_id])] == [elsewhere.id]
    with pytest.raises(InvalidInput) as caught:
        backend.page_flow_runs(order="name; DROP TABLE flow_runs")
    assert caught.value.message == "runs cannot be ordered by 'name; DROP TABLE flow_runs'"


def test_a_page_holds_two_hundred_runs_unless_asked(backend: LocalBackend, tmp_path: Path) -> None:
    made = deployment(backend, tmp_path)
    for _ in range(201):
        backend.create_flow_run(made.id)
    assert len(backend.page_flow_runs()) == 200
    assert len(backend.page_flow_runs(limit=300)) == 201


def test_a_run_cancelled_before_its_engine_started_it_ends_cancelled_with_why(
    backend: LocalBackend, tmp_path: Path
) -> None:
    run = backend.create_flow_run(deployment(backend, tmp_path).id)
    backend.set_flow_run_state(run.id, StateType.PENDING)  # a worker took it
    assert backend.cancel_flow_run(run.id).state.type is StateType.CANCELLING
    started = backend.start_flow_run(run.id)
    assert (started.state.type, started.state.name, started.state.message) == (
        StateType.CANCELLED, "Cancelled", "Cancelled before start")  # fmt: skip
    assert started.start_time is None and started.end_time is not None


def test_a_run_starts_once_and_ends_with_its_state_name_message_and_last_logs(
    backend: LocalBackend, tmp_path: Path
) -> None:
    run = backend.create_flow_run(deployment(backend, tmp_path).id)
    pending = backend.set_flow_run_state(run.id, StateType.PENDING, name="Claimed")
    assert (pending.state.name, pending.start_time) == ("Claimed", None)
    started = backend.start_flow_run(run.id)
    assert started.state.type is StateType.RUNNING and started.start_time is not None
    again = backend.set_flow_run_state(run.id, StateType.RUNNING, name="Resumed")
    assert again.start_time == started.start_time and again.state.name == "Resumed"
    line = LogLine(run.id, utcnow(), 20, "done")
    backend.finish_flow_run(run.id, StateType.COMPLETED, name="Done", message="all good",
                            logs=[line])  # fmt: skip
    finished = backend.read_flow_run(run.id)
    assert (finished.state.type, finished.state.name, finished.state.message) == (
        StateType.COMPLETED, "Done", "all good")  # fmt: skip
    assert finished.end_time is not None
    late = LogLine(run.id, utcnow(), 40, "too late")
    with pytest.raises(FlowplanError) as caught:
        backend.finish_flow_run(run.id, StateType.FAILED, logs=[late])
    assert caught.value.message == (
        f"flow run {run.id} is already COMPLETED; its state cannot change"
    )
    assert [x.message for x in backend.read_logs(run.id)] == ["done", "too late"]
    assert backend.read_flow_run(run.id).state.name == "Done"


def test_a_run_its_deployment_or_pool_refuses_is_not_made_and_says_every_reason(
    backend: LocalBackend, tmp_path: Path
) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    strict = deployment(backend, tmp_path, name="strict", parameter_openapi_schema=schema,
                        enforce_parameter_schema=True)  # fmt: skip
    loose = deployment(backend, tmp_path, name="loose", parameter_openapi_schema=schema,
                       enforce_parameter_schema=False)  # fmt: skip
    with pytest.raises(InvalidInput) as both:
        backend.create_flow_run(strict.id, parameters={"n": "x"}, job_variables={"env": 5})
    assert both.value.message == (
        "cannot create a run of deployment 'f/strict': parameters.n: expected an integer, got"
        " text ('x'); job_variables.env: expected a mapping, got an integer (5)"
    )
    assert both.value.hint == (
        "the deployment enforces its parameter schema (enforce_parameter_schema: true)"
    )
    with pytest.raises(InvalidInput) as variables_only:
        backend.create_flow_run(strict.id, parameters={"n": 1}, job_variables={"env": 5})
    assert variables_only.value.hint is None  # the schema is not what refused it
    with pytest.raises(InvalidInput) as not_enforced:
        backend.create_flow_run(loose.id, parameters={"n": "x"}, job_variables={"env": 5})
    assert not_enforced.value.message.endswith("job_variables.env: expected a mapping, got an"
                                               " integer (5)")  # fmt: skip
    assert not_enforced.value.hint is None
    assert backend.read_flow_runs() == []
    # the caller checked the parameters already (the server's door): not checked again
    checked = backend.create_flow_run(strict.id, parameters={"n": "x"}, parameters_checked=True)
    assert checked.parameters == {"n": "x"}
    assert backend.create_flow_run(loose.id, parameters={"n": "x"}).parameters == {"n": "x"}
    named = backend.create_flow_run(loose.id, name="my-run", work_queue_name="side")
    assert (named.name, named.work_queue_name) == ("my-run", "side")
    for values in ({"parameters": {"n": float("nan")}}, {"job_variables": {"x": float("inf")}}):
        with pytest.raises(InvalidInput, match="not a finite number"):
            backend.create_flow_run(loose.id, **values)  # type: ignore[arg-type]


class _Clock:
    """Stands in for `time` in retention: every transaction takes `took` seconds, and each
    pause is recorded with the finished runs left at that moment."""

    def __init__(self, backend: LocalBackend, took: float) -> None:
        self.backend, self.took, self.now = backend, took, 1000.0
        self.pauses: list[tuple[int, float]] = []

    def monotonic(self) -> float:
        self.now += self.took  # read when a transaction starts and when it has ended
        return self.now

    def sleep(self, seconds: float) -> None:
        left = len(self.backend.read_flow_runs(states=[StateType.COMPLETED]))
        self.pauses.append((left, seconds))


@pytest.mark.parametrize(
    ("runs", "batch", "took", "pauses"),
    [
        # slow transactions: the next ones delete half as many, down to 10 a transaction
        (45, 20, 0.3, [(25, 0.15), (15, 0.15), (5, 0.15)]),
        # halving never goes below 10: 25, then 12, then 10 (not 6); 11, then 10 (not 5)
        (45, 25, 0.3, [(20, 0.15), (8, 0.15)]),
        (25, 11, 0.3, [(14, 0.15), (4, 0.15)]),
        # at the limit (not over it) the batch stays; the pause is half the transaction
        (45, 20, 0.25, [(25, 0.125), (5, 0.125)]),
        # fast: the batch stays, the pause is at least 5 ms; very slow: at most 0.5 s
        (45, 20, 0.001, [(25, 0.005), (5, 0.005)]),
        (3, 2, 2.0, [(1, 0.5)]),
    ],
)
def test_old_runs_are_deleted_in_transactions_that_shrink_when_slow_with_pauses_between(
    backend: LocalBackend,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    runs: int,
    batch: int,
    took: float,
    pauses: list[tuple[int, float]],
) -> None:
    made = deployment(backend, tmp_path)
    for _ in range(runs):
        run = backend.create_flow_run(made.id)
        backend.set_flow_run_state(run.id, StateType.COMPLETED)
    clock = _Clock(backend, took)
    monkeypatch.setattr(retention, "time", clock)
    later = utcnow() + timedelta(hours=1)
    assert backend.delete_finished_runs(ended_before=later, batch=batch) == runs
    assert [(left, round(seconds, 6)) for left, seconds in clock.pauses] == pauses
