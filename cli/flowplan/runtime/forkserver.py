"""A fork server for flow runs: one process imports what runs need once (flowplan's engine,
and Prefect when it is installed), then forks a child per run. A run then starts in a few
milliseconds instead of paying for an interpreter and its imports (Prefect alone takes 1.5 s
to import here), and many runs cost the CPU of one import.

The worker and the server talk over a SOCK_SEQPACKET socket pair. The worker sends
`{"run_id", "env", "cwd"}` with the write end of a pipe for the run's output attached; the
server forks, the child makes the pipe its stdout and stderr, starts a new session (so the run
is its own process group), and runs the engine. The server answers `started <run> <pid>` and,
when a child ends, `exit <pid> <code>` (negative: killed by that signal).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import signal
import socket
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

REAP_SECONDS = 0.02


# -- the server ------------------------------------------------------------------------------


def serve(fd: int) -> int:
    """The server's loop (`python -m flowplan.runtime.engine --fork-server FD`)."""
    from flowplan.runtime import engine

    engine.preload()
    channel = socket.socket(fileno=fd)
    children: set[int] = set()
    while True:
        ready, _, _ = select.select([channel], [], [], REAP_SECONDS)
        if ready:
            data, fds, _, _ = socket.recv_fds(channel, 1 << 20, 1)
            if not data:
                return 0  # the worker is gone: stop (running children go on)
            order = json.loads(data)
            output = fds[0]
            pid = os.fork()
            if pid == 0:
                channel.close()
                os._exit(_child(order, output))
            os.close(output)
            children.add(pid)
            channel.send(f"started {order['run_id']} {pid}".encode())
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                children.discard(pid)
                channel.send(f"exit {pid} {os.waitstatus_to_exitcode(status)}".encode())


def _child(order: Mapping[str, object], output: int) -> int:
    from flowplan.runtime import engine

    try:
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        random.seed()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        env = order["env"]
        assert isinstance(env, dict)
        os.environ.update(env)
        os.chdir(str(order["cwd"]))
        code = engine.main([str(order["run_id"])])
    except BaseException as exc:  # report anything at all: this is a run's whole process
        print(f"flowplan engine: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    return code


# -- the worker's side -----------------------------------------------------------------------


def kill_group(pid: int) -> None:
    """End a run's whole process group (it is its own session): whatever the flow started."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


@dataclass
class Forked:
    """A run forked by the server: its output pipe, pid and (later) exit code."""

    pid: int
    output: int
    temporary: str | None
    code: int | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def lines(self) -> Iterator[str]:
        with os.fdopen(self.output, encoding="utf-8", errors="replace") as stream:
            for line in stream:
                yield line.rstrip("\n")

    def wait(self) -> int:
        self.done.wait()
        return self.code if self.code is not None else 255

    def kill(self) -> None:
        kill_group(self.pid)


class ForkServer:
    def __init__(self, argv: list[str]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        import subprocess

        self.process = subprocess.Popen(
            [*argv, str(theirs.fileno())], pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        theirs.close()
        self.channel = ours
        self._lock = threading.Lock()
        self._started: dict[str, tuple[threading.Event, list[int]]] = {}
        self._children: dict[int, Forked] = {}
        self._early_exits: dict[int, int] = {}
        self.alive = True
        threading.Thread(target=self._read, name="flowplan-forkserver", daemon=True).start()

    def fork(self, run_id: str, env: Mapping[str, str], cwd: str, temporary: str | None) -> Forked:
        read_end, write_end = os.pipe()
        event, box = threading.Event(), list[int]()
        with self._lock:
            self._started[run_id] = (event, box)
        order = json.dumps({"run_id": run_id, "env": dict(env), "cwd": cwd}).encode()
        try:
            socket.send_fds(self.channel, [order], [write_end])
        finally:
            os.close(write_end)
        if not event.wait(120) or not box:
            os.close(read_end)
            raise RuntimeError("the fork server did not start the run")
        forked = Forked(box[0], read_end, temporary)
        with self._lock:
            self._children[forked.pid] = forked
            if forked.pid in self._early_exits:
                self._finish(forked, self._early_exits.pop(forked.pid))
        return forked

    def _read(self) -> None:
        while True:
            try:
                message = self.channel.recv(4096).decode()
            except OSError:
                message = ""
            if not message:
                break
            kind, first, second = message.split()
            with self._lock:
                if kind == "started" and first in self._started:
                    event, box = self._started.pop(first)
                    box.append(int(second))
                    event.set()
                elif kind == "exit":
                    child = self._children.pop(int(first), None)
                    if child is None:
                        self._early_exits[int(first)] = int(second)
                    else:
                        self._finish(child, int(second))
        with self._lock:  # the server died: nobody will report these exits
            self.alive = False
            for event, _ in self._started.values():
                event.set()
            for child in self._children.values():
                child.done.set()

    @staticmethod
    def _finish(child: Forked, code: int) -> None:
        child.code = code
        child.done.set()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.channel.shutdown(socket.SHUT_RDWR)
        self.process.wait()
