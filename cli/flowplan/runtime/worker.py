"""The worker: claims due runs of one pool, starts each on its infrastructure, reports how it
ended, and keeps the pool's schedules filled (under a leader lease, so one worker is enough).

Its loop services run on threads of their own, each with its own store connection, isolated
and retried with backoff (see `services`): heartbeats, crash detection of dead peers, the
scheduler, late-run marking, claims, cancellations and (with a run retention set) deleting
finished runs past it. Claims wait for the store to change (any process's commit, heard through
inotify; where that is missing they look every 50 ms) and claim at once, at most one look in
10 ms, and every poll interval for runs that came due, so a new run starts within about 10 ms.
While runs are going, the slots they free are claimed together once a tick (50 ms). SIGTERM
or Ctrl-C: stop claiming, let running runs finish, exit; a second signal kills them now and
marks them CRASHED.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from flowplan.backends.protocol import ChangeWatch, RuntimeBackend
from flowplan.domain.objects import Deployment, StateType, WorkPool
from flowplan.errors import FlowplanError, ObjectNotFound, StoreFault, UsageError
from flowplan.runtime import housekeeping
from flowplan.runtime.infrastructure import Infrastructure, infrastructure
from flowplan.runtime.reporter_server import ReporterServer
from flowplan.runtime.services import Service
from flowplan.runtime.supervisor import Settings, Supervisor
from flowplan.runtime.threads import THREADS

TICK = 0.05  # how often the claims look where no watch tells them of changes, and claim
# while runs are going; how often the cancellations look
CLAIM_SPACING = 0.01  # with a watch: the least time between two looks of the claims (a burst
# of writes costs one look in it, and a slot freed with no run going waits no longer:
# `--limit 1` runs about 50 trivial runs a second with it, 19 with the tick)
SCHEDULER_SECONDS = 2.0
RETENTION_SECONDS = 600.0  # how often finished runs past the retention are deleted
GRACE_SECONDS = 30.0  # Prefect's: between SIGTERM and SIGKILL when a run is stopped
STORE_FAULT_WAIT = 10.0  # how long a worker stopping for its store waits for its runs to end


@dataclass(frozen=True)
class WorkerOptions:
    pool: str
    queues: tuple[str, ...] = ()
    deployments: tuple[str, ...] = ()  # only runs of these deployments (serve)
    limit: int | None = None
    name: str = field(default_factory=lambda: default_name())
    type: str | None = None  # None: the pool's type
    poll_interval: float = 0.5
    heartbeat_interval: float = 30.0
    grace_seconds: float = GRACE_SECONDS
    run_once: bool = False
    retention: timedelta | None = None  # finished runs older than this are deleted


def default_name(kind: str = "process") -> str:
    return f"{kind.capitalize()}Worker {uuid.uuid4()}"


class Worker:
    def __init__(
        self,
        backend: RuntimeBackend,
        options: WorkerOptions,
        say: Callable[[str], None] = print,
        connect: Callable[[], RuntimeBackend] | None = None,
    ) -> None:
        """`connect` opens another connection to the same backend: each loop service gets its
        own, so that none waits on another's (default: they share `backend`)."""
        self.backend, self.options, self.say = backend, options, say
        self.connect = connect or (lambda: backend)
        self.infrastructure: Infrastructure | None = None
        self.supervisors: dict[str, Supervisor] = {}  # run id -> its supervisor, until reported
        self._exited: set[str] = set()  # runs whose process ended (their slot is free)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._signals = 0
        self.claims: Service | None = None
        self._cancellations: Service | None = None
        self.channel: ReporterServer
        self._fault: StoreFault | None = None  # a service met one: the worker stops
        self._service_list: list[Service] = []
        self._watch: ChangeWatch | None = None  # tells the claims of the store's changes

    # -- the loop --------------------------------------------------------------------------

    def run(self) -> int:
        try:
            return self._run()
        except StoreFault as fault:  # the one place a worker stops for its store
            self.stop_for_store_fault(fault)
            raise

    def _run(self) -> int:
        pool = self.backend.read_work_pool(self.options.pool)  # fails early on a missing pool
        kind = self.options.type or pool.type
        if kind != pool.type:
            raise UsageError(
                f"work pool {pool.name!r} is of type {pool.type!r}: a {kind!r} worker cannot"
                f" run its flows (start one with --type {pool.type}, or leave --type out)"
            )
        self.infrastructure = infrastructure(kind)
        self._install_signals()
        self.infrastructure.prepare(self.say)
        self.infrastructure.reap(housekeeping.crashed_among(self.backend))  # what dead workers left
        self.channel = ReporterServer(self.connect)
        self._heartbeat(self.backend)()  # before any claim: a claimed run's worker is known
        self.say(
            f"Worker {self.options.name!r} started on work pool {pool.name!r}"
            f" ({pool.type}); polling every {self.options.poll_interval:g} s. Ctrl-C stops it."
        )
        claims = self.connect()
        self._watch = claims.watch_changes()
        self._service_list = [service.start() for service in self._services(claims)]
        killed = False
        while True:
            if self._fault is not None:
                raise self._fault
            if self._signals > 1 and not killed:
                self._kill_all()
                killed = True
            if (self._signals or self._once_done()) and not self._busy():
                break
            self._wake.wait(0.2)
            self._wake.clear()
        self._stop_services()
        self.infrastructure.close()
        self.channel.close()
        self.say(f"Worker {self.options.name!r} stopped.")
        return 130 if self._signals > 1 else 0

    def _services(self, claims: RuntimeBackend) -> list[Service]:
        """The loop services; `claims`: the claims' connection (its changes watched)."""
        options = self.options

        def service(
            name: str, interval: float, step: Callable[[], object],
            rests: Callable[[], bool] | None = None,
        ) -> Service:  # fmt: skip
            return Service(name, interval, step, self.say, self._stop, self._store_failed, rests)

        spacing = TICK if self._watch is None else CLAIM_SPACING
        self.claims = service("claims", spacing, self._claimer(claims, self._watch))
        # with no run of its own, nothing to watch: it waits for a claim to kick it
        self._cancellations = service("cancellations", TICK, self._canceller(self.connect()),
                                      rests=lambda: not self._busy())  # fmt: skip
        return [
            service("heartbeat", options.heartbeat_interval, self._heartbeat(self.connect())),
            service("crash detection", options.heartbeat_interval, housekeeping.crash_detection(
                self.connect(), self.say, lambda: self.infrastructure)),
            service("scheduler", SCHEDULER_SECONDS, housekeeping.schedules(
                self.connect(), options.name, SCHEDULER_SECONDS * 5, self.say)),
            service("late runs", SCHEDULER_SECONDS, housekeeping.late_runs(self.connect())),
            self.claims,
            self._cancellations,
            *([service("retention", RETENTION_SECONDS, housekeeping.retention(
                self.connect(), options.retention, self._stop, self.say))]
              if options.retention else []),
        ]  # fmt: skip

    def _stop_services(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.wake()  # the claims wait on it (then see the stop)
        for service in self._service_list:
            service.kick()  # one that rests waits for this, not for its interval
        for service in self._service_list:
            service.thread.join()
        if self._watch is not None:
            self._watch.close()

    def _once_done(self) -> bool:
        return self.options.run_once and self.claims is not None and self.claims.passes > 0

    def _busy(self) -> bool:
        with self._lock:
            return bool(self.supervisors)

    def _running(self) -> int:
        """This worker's runs whose process has not ended."""
        with self._lock:
            return len(self.supervisors) - len(self._exited)

    def _free_slots(self, running: int) -> int:
        return 100 if self.options.limit is None else self.options.limit - running

    # -- the services ----------------------------------------------------------------------

    def _heartbeat(self, backend: RuntimeBackend) -> Callable[[], object]:
        options = self.options
        return housekeeping.heartbeat(backend, options.pool, options.name,
                                      options.heartbeat_interval, options.queues)  # fmt: skip

    def _claimer(self, backend: RuntimeBackend, watch: ChangeWatch | None) -> Callable[[], None]:
        """A look at the store each tick; with a watch, a look only once the store changed (or
        the poll interval passed), at once: a new run starts without waiting for the tick.
        While runs of this worker are running, a claim comes at most once a tick: the slots
        they free are claimed together (a claim a run costs the worker about 0.5 ms of CPU
        more at 200 runs a second). With none running, a freed slot is taken at once."""
        marker: list[object] = [None]
        next_poll = [0.0]
        last_claim = [-TICK]

        def step() -> None:
            if watch is not None and marker[0] is not None:  # the first look waits for nothing
                until = next_poll[0]
                if self._running():  # a slot freed meanwhile is claimed at the tick's end
                    until = min(until, last_claim[0] + TICK)
                watch.wait(max(0.0, until - time.monotonic()))
            if self._signals or self._once_done():  # --run-once: one look, not one a tick
                return
            running = self._running()
            slots = self._free_slots(running)
            if slots <= 0:  # no look: a change is kept for when a run's slot frees
                return
            now = time.monotonic()
            if running and now < last_claim[0] + TICK:
                return  # runs are going: what they free is claimed together, once a tick
            current = backend.change_marker()
            if current == marker[0] and now < next_poll[0]:
                return
            marker[0], next_poll[0] = current, now + self.options.poll_interval
            last_claim[0] = now
            self._claim(backend, slots)

        return step

    def _claim(self, backend: RuntimeBackend, slots: int) -> None:
        runs = backend.claim_flow_runs(
            self.options.pool, self.options.name, queues=self.options.queues,
            deployment_ids=self.options.deployments, limit=slots,
        )  # fmt: skip
        assert self.infrastructure is not None
        settings = Settings(self.options.name, self.options.pool, self.options.grace_seconds)
        lookups = _Lookups(backend, self.options.pool) if runs else None
        for run in runs:
            assert lookups is not None
            supervisor = Supervisor(
                run, self.backend, self.infrastructure, settings, self.say, self._run_exited,
                self.channel, lookups.found(run.deployment_id or ""),
            )  # fmt: skip
            with self._lock:
                self.supervisors[run.id] = supervisor
            THREADS.start(f"flowplan-run {run.id}", functools.partial(self._supervise, supervisor))
        if runs and self._cancellations is not None:
            self._cancellations.kick()

    def _supervise(self, supervisor: Supervisor) -> None:
        try:
            supervisor.supervise()
        finally:
            with self._lock:
                del self.supervisors[supervisor.run.id]
                self._exited.discard(supervisor.run.id)
            self._wake.set()

    def _run_exited(self, supervisor: Supervisor) -> None:
        with self._lock:
            if supervisor.run.id in self.supervisors:
                self._exited.add(supervisor.run.id)
        if self._watch is not None:
            self._watch.wake()  # a slot is free: the claims look now, not at the next write

    def _canceller(self, backend: RuntimeBackend) -> Callable[[], None]:
        marker: list[object] = [None]

        def step() -> None:
            with self._lock:
                running = [s for s in self.supervisors.values() if not s.cancelled]
            if not running:
                return
            current = backend.change_marker()
            if current == marker[0]:
                return
            marker[0] = current
            cancelling = {run.id for run in backend.read_flow_runs(states=[StateType.CANCELLING])}
            for supervisor in running:
                if supervisor.run.id in cancelling:
                    supervisor.cancel()

        return step

    # -- signals ---------------------------------------------------------------------------

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stop()

    def stop(self) -> None:
        """What SIGTERM or Ctrl-C does (a worker run in a thread is stopped with this): the
        first time, stop claiming and let the runs finish; again, stop them now."""
        self._signals += 1
        self._wake.set()
        if self._signals == 1:
            self.say("Stopping: no new runs are claimed; waiting for running runs to finish"
                     " (signal again to stop them now).")  # fmt: skip

    def _store_failed(self, fault: StoreFault) -> None:
        """A service met a store fault: no retry helps, the worker stops (in its main loop)."""
        with self._lock:
            if self._fault is None:
                self._fault = fault
        self._wake.set()

    def stop_for_store_fault(self, fault: StoreFault) -> None:
        """The store failed under the worker (full disk, read-only, deleted or replaced): stop
        every run now and mark it CRASHED with the reason if the store still takes it (else
        the next worker finds it orphaned by the missed heartbeats); nothing is left running."""
        self._signals = max(self._signals, 2)  # claim nothing more
        self.say(f"Stopping: the store failed: {fault}")
        with self._lock:
            running = list(self.supervisors)
        self._kill_all()
        deadline = time.monotonic() + STORE_FAULT_WAIT
        while self._busy() and time.monotonic() < deadline:
            self._wake.wait(0.1)
            self._wake.clear()
        self._stop_services()
        for run_id in running:  # each run's supervisor tried already; a final state stands
            with contextlib.suppress(FlowplanError):
                self.backend.set_flow_run_state(
                    run_id, StateType.CRASHED,
                    message=f"The worker stopped: the store failed: {fault}",
                )  # fmt: skip
        if self.infrastructure is not None:
            self.infrastructure.close()
        if hasattr(self, "channel"):
            self.channel.close()

    def _kill_all(self) -> None:
        with self._lock:
            supervisors = list(self.supervisors.values())
        for supervisor in supervisors:
            supervisor.kill()


class _Lookups:
    """The pool and deployments of the runs claimed together, read once for all of them, not
    once a run. What cannot be read here (a deployment the store cannot read) is left to each
    run's supervisor, which reads it again and says why the run cannot start."""

    def __init__(self, backend: RuntimeBackend, pool: str) -> None:
        self.backend = backend
        self.deployments: dict[str, Deployment | Exception | None] = {}
        try:
            self.pool: WorkPool | None = backend.read_work_pool(pool)
        except Exception:
            self.pool = None

    def found(self, deployment_id: str) -> tuple[WorkPool, Deployment | None] | None:
        if self.pool is None:
            return None
        if deployment_id not in self.deployments:
            try:
                self.deployments[deployment_id] = self.backend.read_deployment(deployment_id)
            except ObjectNotFound:
                self.deployments[deployment_id] = None
            except Exception as exc:
                self.deployments[deployment_id] = exc
        deployment = self.deployments[deployment_id]
        return None if isinstance(deployment, Exception) else (self.pool, deployment)
