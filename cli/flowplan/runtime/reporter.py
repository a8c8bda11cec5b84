"""The reporting channel: what a flow run's engine needs from the orchestrator, and nothing
else. The engine reads its run and deployment, variables and secrets for its pull steps, and
reports states and logs through a `RunReporter`; it never opens the store itself, so a run
needs only this channel and its code (a container, a remote host, a sandbox).

The worker serves the channel on a Unix socket in a private directory (see
`reporter_server`) and gives each run `FLOWPLAN_REPORTER=unix:<socket path> <token>`; the
token is the run's own and lets it read and report only that run. Protocol: one JSON object
per line each way. A request is `{"token", "method", "args"}` with a method of `RunReporter`
and its keyword arguments; the answer is `{"result": ...}` or `{"error": {"kind",
"message"}}` (kind `not_found` or `error`). Objects travel in their `to_json()` form.

Besides reading and reporting, the engine says when it calls the flow with a timeout
(`flow_call`), so that the worker enforces the timeout too.

Without the variable (the engine started by hand) the engine uses the store. When the channel
closes while the run goes on (its worker was killed), the run stops: it gets SIGTERM, so its
`finally:` blocks run, and a live worker marks it CRASHED.

A run's helper thread (log flushes, and a second connection that notices the worker going)
starts with the channel, except in a run forked by the fork server: most runs end within a
flush interval, and a thread costs a forked run more CPU than the rest of a trivial run's
reporting. There the fork server sends `WAKE_SIGNAL` (SIGURG, ignored by default) to a run
still going after `logs.FLUSH_SECONDS`, and to every run it leaves when its worker goes; the
signal starts the thread."""

from __future__ import annotations

import _thread
import contextlib
import json
import os
import select
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from flowplan import masking
from flowplan.backends.protocol import RuntimeBackend
from flowplan.domain.objects import Deployment, FlowRun, LogLine, StateType, Variable
from flowplan.errors import FlowplanError, ObjectNotFound

ENV = "FLOWPLAN_REPORTER"
IDLE_SECONDS = 0.2  # how often the channel's thread looks for work given with `every`
WAKE_SIGNAL = signal.SIGURG  # "this run is still going": start the channel's helper thread


class RunReporter(Protocol):
    def start(self, run_id: str) -> tuple[FlowRun, Deployment | None]:
        """The run marked RUNNING (CANCELLED when it is being cancelled; a run in a final
        state is left so), with its deployment: the engine's first question."""
        ...

    def read_flow_run(self, run_id: str) -> FlowRun: ...
    def read_deployment(self, name: str) -> Deployment: ...
    def set_flow_run_state(
        self,
        run_id: str,
        state_type: StateType,
        *,
        name: str | None = None,
        message: str | None = None,
        force: bool = False,
    ) -> object: ...
    def write_logs(self, lines: Sequence[LogLine]) -> None: ...
    def finish(
        self,
        run_id: str,
        state_type: StateType,
        *,
        name: str | None = None,
        message: str | None = None,
        logs: Sequence[LogLine] = (),
    ) -> None:
        """The run's last logs, then its new state (one request; the logs are written even
        when the state is refused)."""
        ...

    def read_variable(self, name: str) -> Variable: ...
    def read_secret_value(self, name: str) -> str: ...
    def flow_call(self, run_id: str, timeout: float | None) -> None:
        """The flow is called now with this timeout (None: the call ended): the worker
        enforces it too, for a flow that ignores the exception raised inside it."""
        ...


def connect() -> RunReporter:
    """The channel the worker gave this run (taken out of the environment, so that the flow's
    own processes do not inherit it), or the store when there is none."""
    address = os.environ.pop(ENV, "")
    if not address:
        from flowplan.backends import get_backend, runtime_backend

        return StoreReporter(runtime_backend(get_backend()))
    return SocketReporter(address)


class StoreReporter:
    """The store itself, for an engine started by hand (nobody enforces timeouts from outside)."""

    def __init__(self, backend: RuntimeBackend) -> None:
        self.backend = backend
        self.read_flow_run = backend.read_flow_run
        self.read_deployment = backend.read_deployment
        self.set_flow_run_state = backend.set_flow_run_state
        self.write_logs = backend.write_logs
        self.read_variable = backend.read_variable
        self.read_secret_value = backend.read_secret_value
        self.finish = backend.finish_flow_run

    def start(self, run_id: str) -> tuple[FlowRun, Deployment | None]:
        run = self.backend.start_flow_run(run_id)
        if run.state.type is not StateType.RUNNING or not run.deployment_id:
            return run, None
        return run, self.backend.read_deployment(run.deployment_id)

    def flow_call(self, run_id: str, timeout: float | None) -> None:
        pass


class ChannelClosed(FlowplanError):
    pass


class SocketReporter:
    def __init__(self, address: str) -> None:
        location, _, self._token = address.rpartition(" ")  # a path may hold spaces
        path = location.removeprefix("unix:")
        self._path = path
        self._socket = _open(path)
        self._received = b""  # what came after the last answer's end (nothing, in practice)
        self._lock = threading.Lock()
        self._closing = False
        self._tick: tuple[float, Callable[[], None]] | None = None
        self._watch: socket.socket | None = None  # the helper's connection, to notice the worker go
        self._helper = threading.Lock()  # held once the helper thread is started
        self.helper_ident: int | None = None
        global _current
        _current = self
        if _woken or signal.getsignal(WAKE_SIGNAL) is not _wake:  # nobody will wake it later
            self.start_helper()

    def start_helper(self) -> None:
        """Start the run's one helper thread (once): it watches the worker and does what
        `every` asks (a bare thread: `threading`'s bookkeeping costs a forked run a third of a
        millisecond)."""
        if self._closing or not self._helper.acquire(blocking=False):
            return
        self.helper_ident = _thread.start_new_thread(self._watch_worker, ())

    def every(self, seconds: float, action: Callable[[], None]) -> None:
        """Call `action` every `seconds` on the channel's own thread (the run's log flushes:
        one thread per run does both, a thread costs a forked run about a millisecond)."""
        self._tick = (seconds, action)

    def _call(self, method: str, **args: Any) -> Any:
        request = json.dumps({"token": self._token, "method": method, "args": args}).encode()
        with self._lock:
            try:
                self._socket.sendall(request + b"\n")
                answer = self._answer()
            except OSError:
                answer = b""
        if not answer:
            raise ChannelClosed("the worker's reporting channel closed (the worker is gone)")
        reply = json.loads(answer)
        error = reply.get("error")
        if error:
            kind = ObjectNotFound if error.get("kind") == "not_found" else FlowplanError
            raise kind(str(error.get("message")))
        return reply.get("result")

    def _answer(self) -> bytes:
        """The next line from the worker (b"" when the channel closed first): read straight
        from the socket, no file object over it (one costs a forked run more than its
        requests do)."""
        received = self._received
        while (end := received.find(b"\n")) < 0:
            chunk = self._socket.recv(1 << 16)
            if not chunk:
                return b""
            received += chunk
        self._received = received[end + 1 :]
        return received[: end + 1]

    def _watch_worker(self) -> None:
        watch = None
        wait = 0.0 if _woken else None  # woken late: what `every` asks is due at once
        with contextlib.suppress(OSError, ValueError, ChannelClosed):
            self._watch = watch = _open(self._path)
            while not self._closing:  # the worker never writes here: readable means it is gone
                tick = self._tick
                if wait is None:
                    wait = tick[0] if tick else IDLE_SECONDS
                if select.select([watch], [], [], wait)[0]:
                    break
                wait = None
                if tick is not None:
                    tick[1]()
        if self._closing:
            if watch is not None:
                watch.close()
            return
        with contextlib.suppress(OSError):
            print("flowplan engine: the worker is gone; stopping the run", file=sys.stderr)
        with contextlib.suppress(OSError):
            os.killpg(os.getpgrp(), signal.SIGTERM)

    def close(self) -> None:
        self._closing = True
        for channel in (self._watch, self._socket):
            if channel is None:
                continue
            with contextlib.suppress(OSError):
                channel.shutdown(socket.SHUT_RDWR)
            channel.close()

    def start(self, run_id: str) -> tuple[FlowRun, Deployment | None]:
        try:
            answer = self._call("start", run_id=run_id)
        except FlowplanError as exc:
            if not exc.message.startswith("unknown method"):
                raise
            return self._start_by_parts(run_id)  # a worker from before `start`
        deployment = answer["deployment"]
        return FlowRun.from_json(answer["run"]), (
            None if deployment is None else Deployment.from_json(deployment)
        )

    def _start_by_parts(self, run_id: str) -> tuple[FlowRun, Deployment | None]:
        run = self.read_flow_run(run_id)
        if run.state.type is StateType.CANCELLING:
            self.set_flow_run_state(run_id, StateType.CANCELLED, message="Cancelled before start")
            return self.read_flow_run(run_id), None
        if run.state.type.is_final:
            return run, None
        deployment = self.read_deployment(run.deployment_id) if run.deployment_id else None
        self.set_flow_run_state(run_id, StateType.RUNNING)
        return self.read_flow_run(run_id), deployment

    def read_flow_run(self, run_id: str) -> FlowRun:
        return FlowRun.from_json(self._call("read_flow_run", run_id=run_id))

    def read_deployment(self, name: str) -> Deployment:
        return Deployment.from_json(self._call("read_deployment", name=name))

    def set_flow_run_state(
        self,
        run_id: str,
        state_type: StateType,
        *,
        name: str | None = None,
        message: str | None = None,
        force: bool = False,
    ) -> object:
        return self._call(
            "set_flow_run_state", run_id=run_id, state_type=state_type.value, name=name,
            message=message, force=force,
        )  # fmt: skip

    def write_logs(self, lines: Sequence[LogLine]) -> None:
        self._call("write_logs", lines=[line.to_json() for line in lines])

    def finish(
        self,
        run_id: str,
        state_type: StateType,
        *,
        name: str | None = None,
        message: str | None = None,
        logs: Sequence[LogLine] = (),
    ) -> None:
        try:
            self._call(
                "finish", run_id=run_id, state_type=state_type.value, name=name,
                message=message, lines=[line.to_json() for line in logs],
            )  # fmt: skip
        except FlowplanError as exc:
            if not exc.message.startswith("unknown method"):
                raise
            # a worker from before `finish` (an engine in an image newer than its worker)
            if logs:
                self.write_logs(logs)
            self.set_flow_run_state(run_id, state_type, name=name, message=message)

    def read_variable(self, name: str) -> Variable:
        data = self._call("read_variable", name=name)
        return Variable(data["name"], data["value"], tuple(data["tags"]),
                        *(_time(data[key]) for key in ("created", "updated")))  # fmt: skip

    def read_secret_value(self, name: str) -> str:
        value = str(self._call("read_secret_value", name=name))
        masking.register(value)  # as the store does: read once, masked in all this run prints
        return value

    def flow_call(self, run_id: str, timeout: float | None) -> None:
        self._call("flow_call", run_id=run_id, timeout=timeout)


_current: SocketReporter | None = None  # this process's channel, for `_wake`
_woken = False  # the wake came (perhaps before the channel was opened)


def expect_wake() -> None:
    """The fork server, before it forks any run: its runs start their channel's helper thread
    when `WAKE_SIGNAL` comes (a blocked system call is restarted, not interrupted, by it)."""
    signal.signal(WAKE_SIGNAL, _wake)
    signal.siginterrupt(WAKE_SIGNAL, False)


def _wake(signum: int, frame: object) -> None:
    global _woken
    _woken = True
    if _current is not None:
        _current.start_helper()


def _open(path: str) -> socket.socket:
    channel = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        channel.connect(path)
    except OSError as exc:
        channel.close()
        raise ChannelClosed(f"cannot reach the worker's reporting channel {path}: {exc}") from exc
    return channel


def _time(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text)
