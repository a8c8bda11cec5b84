"""The worker: claims due runs of one pool, starts each as its own process, reports how it
ended, and keeps the pool's schedules filled (under a leader lease, so one worker is enough).

Its loop checks the store's change marker every 50 ms and claims when something changed or the
poll interval passed, so a new run starts within a few tens of milliseconds. Heartbeats let any
live worker mark the runs of a dead one CRASHED. SIGTERM or Ctrl-C: stop claiming, let running
runs finish, exit; a second signal kills them now and marks them CRASHED.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from flowplan.backends.protocol import Backend
from flowplan.domain.clock import utcnow
from flowplan.domain.job_config import WorkPoolJobConfiguration
from flowplan.domain.objects import FlowRun, StateType
from flowplan.errors import FlowplanError, ObjectNotFound, StoreFault
from flowplan.runtime import scheduler
from flowplan.runtime.infrastructure import Infrastructure, Started, infrastructure

TICK = 0.05
SCHEDULER_SECONDS = 2.0
TAIL_LINES = 15


@dataclass(frozen=True)
class WorkerOptions:
    pool: str
    queues: tuple[str, ...] = ()
    deployments: tuple[str, ...] = ()  # only runs of these deployments (serve)
    limit: int | None = None
    name: str = field(default_factory=lambda: default_name())
    type: str = "process"
    poll_interval: float = 0.5
    heartbeat_interval: float = 30.0
    run_once: bool = False


def default_name() -> str:
    return f"ProcessWorker {uuid.uuid4()}"


class Worker:
    def __init__(
        self, backend: Backend, options: WorkerOptions, say: Callable[[str], None] = print
    ) -> None:
        self.backend, self.options, self.say = backend, options, say
        self.infrastructure: Infrastructure = infrastructure(options.type)
        self._running: dict[str, Started | None] = {}  # run id -> its process, once started
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._signals = 0

    # -- the loop --------------------------------------------------------------------------

    def run(self) -> int:
        try:
            return self._run()
        except StoreFault as fault:  # the one place a worker stops for its store
            self.stop_for_store_fault(fault)
            raise

    def _run(self) -> int:
        pool = self.backend.read_work_pool(self.options.pool)  # fails early on a missing pool
        self._install_signals()
        self.infrastructure.prepare()
        self.say(
            f"Worker {self.options.name!r} started on work pool {pool.name!r}"
            f" ({pool.type}); polling every {self.options.poll_interval:g} s. Ctrl-C stops it."
        )
        next_heartbeat = next_schedule = next_poll = 0.0
        marker = None
        killed = False
        while True:
            now = time.monotonic()
            if self._signals:
                if self._signals > 1 and not killed:
                    self._kill_all()
                    killed = True
                if not self._busy():
                    break
            else:
                if now >= next_heartbeat:
                    self._heartbeat()
                    next_heartbeat = now + self.options.heartbeat_interval
                if now >= next_schedule:
                    self._schedule()
                    next_schedule = now + SCHEDULER_SECONDS
                current = self.backend.change_marker()
                if current != marker or now >= next_poll:
                    marker = current
                    next_poll = now + self.options.poll_interval
                    self._watch_cancellations()
                    self._claim()
                if self.options.run_once and not self._busy():
                    break
            time.sleep(TICK)
        for thread in self._threads:
            thread.join()
        self.infrastructure.close()
        self.say(f"Worker {self.options.name!r} stopped.")
        return 130 if self._signals > 1 else 0

    def _busy(self) -> bool:
        with self._lock:
            return bool(self._running)

    def _free_slots(self) -> int:
        if self.options.limit is None:
            return 100
        with self._lock:
            return self.options.limit - len(self._running)

    def _heartbeat(self) -> None:
        name, pool = self.options.name, self.options.pool
        self.backend.worker_heartbeat(pool, name, self.options.heartbeat_interval)
        self.backend.mark_polled(pool, self.options.queues)
        for run in self.backend.crash_orphaned_runs():
            self.say(f"Flow run {run.name!r} ({run.id}) crashed: {run.state.message}")

    def _schedule(self) -> None:
        ttl = SCHEDULER_SECONDS * 5
        if self.backend.acquire_lease(scheduler.LEASE, self.options.name, ttl) is None:
            return  # another worker is the scheduler
        scheduler.tick(self.backend, utcnow())

    def _claim(self) -> None:
        slots = self._free_slots()
        if slots <= 0:
            return
        runs = self.backend.claim_flow_runs(
            self.options.pool, self.options.name, queues=self.options.queues,
            deployment_ids=self.options.deployments, limit=slots,
        )  # fmt: skip
        for run in runs:
            with self._lock:
                self._running[run.id] = None
            thread = threading.Thread(target=self._supervise, args=(run,), daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            thread.start()

    def _watch_cancellations(self) -> None:
        with self._lock:
            running = [(run_id, started) for run_id, started in self._running.items() if started]
        for run_id, started in running:
            try:
                state = self.backend.read_flow_run(run_id).state.type
            except ObjectNotFound:
                continue
            if state is StateType.CANCELLING and run_id not in self._cancelled:
                self._cancelled.add(run_id)
                started.kill()

    # -- one run ---------------------------------------------------------------------------

    def _supervise(self, run: FlowRun) -> None:
        try:
            self._execute(run)
        except Exception as exc:  # never lose a run silently: say why and mark it
            message = f"Worker failed to run the flow: {type(exc).__name__}: {exc}"
            self.say(f"Flow run {run.name!r}: {message}")
            self._finish(run.id, StateType.CRASHED, message)
        finally:
            with self._lock:
                self._running.pop(run.id, None)

    def _execute(self, run: FlowRun) -> None:
        try:
            config = self._job_configuration(run)
        except ObjectNotFound:
            message = f"Deployment {run.deployment_id} no longer exists, cancelled run."
            self._finish(run.id, StateType.CANCELLED, message)
            return
        env = {**os.environ, **{k: v for k, v in config.env.items() if v is not None}}
        env.update(FLOWPLAN_FLOW_RUN_ID=run.id, PREFECT__FLOW_RUN_ID=run.id)
        started = self.infrastructure.start(run, config, env)
        with self._lock:
            self._running[run.id] = started
        self.say(f"Flow run {run.name!r} ({run.id}) started, process {started.pid}.")
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        for line in started.lines():
            tail.append(line)
            if config.stream_output:
                self.say(f"{run.name} | {line}")
        code = started.wait()
        self.infrastructure.cleanup(started)
        self._report_exit(run, code, tail)

    def _job_configuration(self, run: FlowRun) -> WorkPoolJobConfiguration:
        pool = self.backend.read_work_pool(self.options.pool)
        deployment = self.backend.read_deployment(run.deployment_id or "")
        return WorkPoolJobConfiguration.from_template(
            pool.base_job_template, deployment.job_variables, run.job_variables
        )

    def _report_exit(self, run: FlowRun, code: int, tail: deque[str]) -> None:
        state = self.backend.read_flow_run(run.id).state
        if run.id in self._cancelled:
            self._finish(run.id, StateType.CANCELLED, "Cancelled: the run's process was stopped")
            self.say(f"Flow run {run.name!r} cancelled.")
            return
        if state.type.is_final:
            self.say(f"Flow run {run.name!r} finished: {state.name}.")
            return
        if self._signals > 1:
            message = f"Worker {self.options.name!r} was stopped while the run was in progress"
        elif code < 0:
            message = f"Process was killed by signal {signal.Signals(-code).name}"
        else:
            message = f"Process exited with status code {code} before reporting a final state"
        if tail:
            message += "; last output:\n" + "\n".join(tail)
        self._finish(run.id, StateType.CRASHED, message)
        self.say(f"Flow run {run.name!r} crashed: {message.splitlines()[0]}")

    def _finish(self, run_id: str, state: StateType, message: str) -> None:
        with contextlib.suppress(FlowplanError):  # a final state reached meanwhile stands
            self.backend.set_flow_run_state(run_id, state, message=message)

    # -- signals ---------------------------------------------------------------------------

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:
        self._signals += 1
        if self._signals == 1:
            self.say("Stopping: no new runs are claimed; waiting for running runs to finish"
                     " (signal again to stop them now).")  # fmt: skip

    def stop_for_store_fault(self, fault: StoreFault) -> None:
        """The store failed under the worker (full disk, read-only, deleted or replaced): stop
        every run now and mark it CRASHED with the reason if the store still takes it (else
        the next worker finds it orphaned by the missed heartbeats); nothing is left running."""
        self._signals = max(self._signals, 2)  # claim nothing more
        self.say(f"Stopping: the store failed: {fault}")
        with self._lock:
            running = list(self._running)
        self._kill_all()
        for thread in self._threads:
            thread.join()
        for run_id in running:  # each run's thread tried already; a final state stands
            self._finish(
                run_id, StateType.CRASHED, f"The worker stopped: the store failed: {fault}"
            )
        self.infrastructure.close()

    def _kill_all(self) -> None:
        with self._lock:
            started = [s for s in self._running.values() if s is not None]
        for item in started:
            item.kill()
