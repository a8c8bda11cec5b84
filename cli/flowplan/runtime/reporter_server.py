"""The worker's side of the reporting channel (the protocol is in `reporter`): a Unix socket in
a private directory, one thread serving every connection, each request checked against the run
its token was issued for, answered from the worker's own store connection.

A worker that was killed (SIGKILL, the OOM killer) cannot remove its channel's directory: the
next channel opened removes those of its user that nobody listens on any more."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import selectors
import shutil
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowplan.backends.protocol import RuntimeBackend
from flowplan.domain.objects import Deployment, FlowRun, LogLine, StateType
from flowplan.errors import FlowplanError, ObjectNotFound

Watcher = Callable[[float | None], None]
PREFIX = "flowplan-worker-"  # a channel's directory, in the temporary directory
SOCKET = "reporter.sock"
STALE_SECONDS = 60.0  # a channel's directory this old whose socket refuses: its worker is gone


@dataclass
class _Registered:
    """A run the channel serves, under its token."""

    run: FlowRun
    watch: Watcher  # told when the flow is called with a timeout (None: the call ended)
    deployment: Any  # the run's deployment as JSON, until its start takes it
    final: str | None = None  # the final state the run reported


class ReporterServer:
    def __init__(self, connect: Callable[[], RuntimeBackend]) -> None:
        self._backend = connect()
        remove_stale_channels()
        self._directory = Path(tempfile.mkdtemp(prefix=PREFIX))  # mode 0700
        self.path = str(self._directory / SOCKET)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(128)
        self._runs: dict[str, _Registered] = {}  # by token
        self._lock = threading.Lock()
        threading.Thread(target=self._serve, name="flowplan-reporter", daemon=True).start()

    def register(
        self,
        run: FlowRun,
        watch: Watcher = lambda timeout: None,
        deployment: Deployment | None = None,
    ) -> str:
        """A new token for `run`: the value of `FLOWPLAN_REPORTER` for its process. `watch`
        hears when the flow is called with a timeout (and None when the call ended).
        `deployment`: the run's deployment as its worker just read it (the run's first
        question, answered without asking the store again)."""
        token = secrets.token_hex(16)
        known = deployment is not None and deployment.id == run.deployment_id
        record = _Registered(run, watch, deployment.to_json() if known and deployment else None)
        with self._lock:
            self._runs[token] = record
        return f"unix:{self.path} {token}"

    def unregister(self, address: str) -> None:
        with self._lock:
            self._runs.pop(_token(address), None)

    def final_state(self, address: str) -> str | None:
        """The name of the final state the run of `address` reported through the channel, if
        it did (its supervisor then needs not read it back)."""
        with self._lock:
            record = self._runs.get(_token(address))
        return None if record is None else record.final

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        shutil.rmtree(self._directory, ignore_errors=True)

    def _serve(self) -> None:
        """One thread serves every connection (runs ask little and the store answers one at a
        time anyway): no thread is started per run. After `close()` the connections still
        open are served until they close."""
        selector = selectors.DefaultSelector()
        try:
            selector.register(self._listener, selectors.EVENT_READ, None)
        except ValueError:  # closed before this thread began: nothing to serve
            return
        listening = True
        while listening or len(selector.get_map()) > 0:
            for key, _ in selector.select():
                if key.data is None:
                    try:
                        connection, _ = self._listener.accept()
                    except OSError:  # closed
                        selector.unregister(self._listener)
                        listening = False
                        continue
                    selector.register(connection, selectors.EVENT_READ, bytearray())
                    continue
                run_socket = key.fileobj
                assert isinstance(run_socket, socket.socket)
                if not self._receive(run_socket, key.data):
                    selector.unregister(run_socket)
                    run_socket.close()

    def _receive(self, connection: socket.socket, pending: bytearray) -> bool:
        """Answer the whole requests that arrived; False when the connection closed."""
        try:
            chunk = connection.recv(1 << 16)
        except OSError:
            return False
        if not chunk:
            return False
        pending += chunk
        while (end := pending.find(b"\n")) >= 0:
            line = bytes(pending[:end])
            del pending[: end + 1]
            try:
                connection.sendall(json.dumps(self._answer(line)).encode() + b"\n")
            except OSError:
                return False
        return True

    def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            with self._lock:
                record = self._runs.get(str(request.get("token")))
            if record is None:
                raise FlowplanError("unknown or expired reporting token")
            method, args = str(request["method"]), request.get("args") or {}
            if method == "flow_call":
                _own(record.run, args["run_id"])
                timeout = args.get("timeout")
                record.watch(float(timeout) if timeout is not None else None)
                return {"result": None}
            if method == "start":
                return {"result": self._start(record, args)}
            if method == "finish":
                self._finish(record, args)
                return {"result": None}
            return {"result": self._call(record.run, method, args)}
        except ObjectNotFound as exc:
            return {"error": {"kind": "not_found", "message": exc.message}}
        except FlowplanError as exc:
            return {"error": {"kind": "error", "message": exc.message}}
        except Exception as exc:  # a malformed request: say so, keep serving
            return {"error": {"kind": "error", "message": f"{type(exc).__name__}: {exc}"}}

    def _start(self, record: _Registered, args: dict[str, Any]) -> dict[str, Any]:
        """The run started (see `RunReporter.start`), with its deployment as its worker read it
        when it claimed the run (else from the store; not found: the error, and the run is not
        started)."""
        run = record.run
        run_id = _own(run, args["run_id"])
        with self._lock:
            deployment, record.deployment = record.deployment, None
        if deployment is None and run.deployment_id:
            deployment = self._backend.read_deployment(run.deployment_id).to_json()
        started = self._backend.start_flow_run(run_id)
        if started.state.type is not StateType.RUNNING:
            deployment = None
        return {"run": started.to_json(), "deployment": deployment}

    def _finish(self, record: _Registered, args: dict[str, Any]) -> None:
        """A run's last logs and its final state: one request, one transaction."""
        run_id, state = _own(record.run, args["run_id"]), StateType(args["state_type"])
        name, message = args.get("name"), args.get("message")
        lines = _lines(record.run, args.get("lines") or [])
        self._backend.finish_flow_run(run_id, state, name=name, message=message, logs=lines)
        if state.is_final:
            with self._lock:
                record.final = name or state.value.capitalize()

    def _call(self, run: FlowRun, method: str, args: dict[str, Any]) -> Any:
        backend = self._backend
        if method == "read_flow_run":
            return backend.read_flow_run(_own(run, args["run_id"])).to_json()
        if method == "read_deployment":
            if args["name"] != run.deployment_id:
                raise FlowplanError("a run may read only its own deployment")
            return backend.read_deployment(args["name"]).to_json()
        if method == "set_flow_run_state":
            backend.set_flow_run_state(
                _own(run, args["run_id"]), StateType(args["state_type"]), name=args.get("name"),
                message=args.get("message"), force=bool(args.get("force")),
            )  # fmt: skip
            return None
        if method == "write_logs":
            backend.write_logs(_lines(run, args["lines"]))
            return None
        if method == "read_variable":
            return backend.read_variable(str(args["name"])).to_json()
        if method == "read_secret_value":
            return backend.read_secret_value(str(args["name"]))
        raise FlowplanError(f"unknown method {method!r}")


def remove_stale_channels(now: float | None = None) -> list[Path]:
    """Remove the channel directories of this user's workers that are gone (older than
    `STALE_SECONDS`, their socket refusing connections or missing); the ones removed. A live
    worker's socket accepts (and the connection is closed at once); a younger directory may
    belong to a worker still starting."""
    now = time.time() if now is None else now
    removed = []
    for directory in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            found = directory.lstat()
            if (not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid()
                    or now - found.st_mtime < STALE_SECONDS):  # fmt: skip
                continue
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(1.0)
                probe.connect(str(directory / SOCKET))
        except (ConnectionRefusedError, FileNotFoundError):  # nobody listens there any more
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(directory)
        except OSError:  # unreadable, or a socket path too long to reach: left alone
            continue
    return removed


def _token(address: str) -> str:
    return address.rpartition(" ")[2]


def _lines(run: FlowRun, items: list[Any]) -> list[LogLine]:
    lines = [LogLine.from_json(item) for item in items]
    for item in lines:
        _own(run, item.flow_run_id)
    return lines


def _own(run: FlowRun, run_id: object) -> str:
    if run_id != run.id:
        raise FlowplanError("a run may read and report only itself")
    return run.id
