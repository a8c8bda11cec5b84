"""One flow run as its worker follows it: launched on the worker's infrastructure, then

    exited -> slot freed -> leftovers stopped -> output drained (within a deadline) -> reported

The slot is freed when the run's own process ends, not when its output closes (a background
`sleep` the flow started must not hold it). Cancelling and timing out ask the run's process
group to stop (SIGTERM), and kill it after the grace period, so that `finally:` blocks run."""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from flowplan import masking
from flowplan.backends.protocol import Backend
from flowplan.domain.job_config import WorkPoolJobConfiguration
from flowplan.domain.objects import Deployment, FlowRun, StateType, WorkPool
from flowplan.errors import FlowplanError, ObjectNotFound
from flowplan.runtime import reporter, run_config
from flowplan.runtime.infrastructure import Exit, Infrastructure, RunHandle
from flowplan.runtime.reporter_server import ReporterServer
from flowplan.runtime.threads import THREADS, Task

TAIL_LINES = 15
DRAIN_SECONDS = 5.0  # how long output is read after the run's process ended
TIMEOUT_MARGIN = 2.0  # the flow's own timeout fires first; the worker's after this margin


@dataclass(frozen=True)
class Settings:
    worker: str
    pool: str
    grace: float  # seconds between SIGTERM and SIGKILL


class Supervisor:
    def __init__(
        self,
        run: FlowRun,
        backend: Backend,
        infrastructure: Infrastructure,
        settings: Settings,
        say: Callable[[str], None],
        on_exit: Callable[[Supervisor], None],
        channel: ReporterServer,
        found: tuple[WorkPool, Deployment | None] | None = None,
    ) -> None:
        """`found`: the pool and the run's deployment (None: it no longer exists) as the
        worker read them when it claimed the run (else they are read here)."""
        self.run, self.backend, self.infrastructure = run, backend, infrastructure
        self._found = found
        self.channel = channel
        self.settings, self.say, self._on_exit = settings, say, on_exit
        self.handle: RunHandle | None = None
        self.exited = threading.Event()
        self.cancelled = False
        self.stopped_by_worker = False
        self.timed_out: float | None = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._address = ""  # the run's reporting channel, once registered

    # -- what the worker asks ------------------------------------------------------------

    def cancel(self) -> None:
        with self._lock:
            if self.cancelled:
                return
            self.cancelled = True
        self._stop_in_background()

    def kill(self) -> None:
        """The worker is stopped now: end the run at once."""
        self.stopped_by_worker = True
        if self.handle is not None:
            self.handle.kill()

    # -- the run's life ------------------------------------------------------------------

    def supervise(self) -> None:
        try:
            self._execute()
        except Exception as exc:  # never lose a run silently: say why and mark it
            detail = str(exc) if isinstance(exc, FlowplanError) else f"{type(exc).__name__}: {exc}"
            message = f"Worker failed to run the flow: {detail}"
            self.say(f"Flow run {self.run.name!r}: {message}")
            self._finish(StateType.CRASHED, message)
        finally:
            self._exited()

    def _execute(self) -> None:
        run = self.run
        if self._found is None:
            pool = self.backend.read_work_pool(self.settings.pool)
            try:
                deployment: Deployment | None = self.backend.read_deployment(
                    run.deployment_id or ""
                )
            except ObjectNotFound:
                deployment = None
        else:
            pool, deployment = self._found
        if deployment is None:
            message = f"Deployment {run.deployment_id} no longer exists, cancelled run."
            self._finish(StateType.CANCELLED, message)
            return
        config = run_config.job_configuration(self.backend, pool, deployment, run)
        env = self.infrastructure.environment(run, config)
        env[reporter.ENV] = self._address = self.channel.register(run, self._flow_call, deployment)
        try:
            self._launch(config, env)
        finally:
            self.channel.unregister(self._address)

    def _launch(self, config: WorkPoolJobConfiguration, env: dict[str, str]) -> None:
        run = self.run
        handle = self.infrastructure.launch(run, config, env)
        with self._lock:
            self.handle = handle
            stop_now = self.cancelled
        if stop_now:
            self._stop_in_background()
        self.say(f"Flow run {run.name!r} ({run.id}) started, {handle.id}.")
        reader = _thread(f"output {run.id}", lambda: self._read(handle, config.stream_output))
        exit = handle.wait()
        assert exit is not None
        self._exited()
        self._cancel_timer()
        leftovers = None
        if handle.leftovers():  # most runs leave nothing: no thread for them
            leftovers = _thread(
                f"leftovers {run.id}", lambda: handle.end_leftovers(self.settings.grace)
            )
        reader.join(DRAIN_SECONDS)
        handle.release()
        self._report(exit)
        if leftovers is not None:
            leftovers.join()

    def _read(self, handle: RunHandle, stream: bool) -> None:
        for output in handle.lines():
            # The engine masks what the flow prints through Python; what a process it started
            # wrote straight to the file descriptor gets credentials in URLs masked here.
            line = masking.clean(output)
            self.tail.append(line)
            if stream:
                self.say(f"{self.run.name} | {line}")

    def _flow_call(self, timeout: float | None) -> None:
        """The engine calls the flow with this timeout (None: the call ended)."""
        self._cancel_timer()
        if timeout is not None and timeout > 0 and not self.exited.is_set():
            timer = threading.Timer(timeout + TIMEOUT_MARGIN, self._time_out, (timeout,))
            timer.daemon = True
            with self._lock:
                self._timer = timer
            timer.start()

    def _cancel_timer(self) -> None:
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _time_out(self, timeout: float) -> None:
        if self.exited.is_set():
            return
        self.timed_out = timeout
        self.say(f"Flow run {self.run.name!r} exceeded its timeout of {timeout:g} s: stopping it.")
        self._stop()

    def _stop_in_background(self) -> None:
        _thread(f"stop {self.run.id}", self._stop)

    def _stop(self) -> None:
        handle = self.handle
        if handle is not None and not self.exited.is_set():
            handle.terminate(self.settings.grace)

    def _exited(self) -> None:
        if not self.exited.is_set():
            self.exited.set()
            self._on_exit(self)

    # -- the end -------------------------------------------------------------------------

    def _report(self, exit: Exit) -> None:
        run = self.run
        if self.cancelled:
            self._finish(StateType.CANCELLED, "Cancelled: the run's process was stopped")
            self.say(f"Flow run {run.name!r} cancelled.")
            return
        # the final state the run reported through the channel, else as the store has it
        final = self.channel.final_state(self._address)
        if final is None:
            state = self.backend.read_flow_run(run.id).state
            final = state.name if state.type.is_final else None
        if final is not None:
            self.say(f"Flow run {run.name!r} finished: {final}.")
            return
        if self.timed_out is not None:
            message = (
                f"Flow run exceeded timeout of {self.timed_out:g} seconds; the worker stopped"
                " its process (the flow did not stop by itself)"
            )
            self._finish(StateType.FAILED, message, "TimedOut")
            self.say(f"Flow run {run.name!r} timed out.")
            return
        if self.stopped_by_worker:
            message = f"Worker {self.settings.worker!r} was stopped while the run was in progress"
        elif exit.reason or exit.code < 0:
            message = exit.describe()
        else:
            message = f"{exit.describe()} before reporting a final state"
        if self.tail:
            message += "; last output:\n" + "\n".join(self.tail)
        self._finish(StateType.CRASHED, message)
        self.say(f"Flow run {run.name!r} crashed: {message.splitlines()[0]}")

    def _finish(self, state: StateType, message: str, name: str | None = None) -> None:
        with contextlib.suppress(FlowplanError):  # a final state reached meanwhile stands
            self.backend.set_flow_run_state(self.run.id, state, name=name, message=message)


def _thread(name: str, target: Callable[[], object]) -> Task:
    return THREADS.start(f"flowplan-{name}", target)
