"""A fork server for flow runs: one process imports what runs need once (flowplan's engine,
and Prefect when it is installed), then forks a child per run. A run then starts in a few
milliseconds instead of paying for an interpreter and its imports (Prefect alone takes 1.5 s
to import here), and many runs cost the CPU of one import.

The worker and the server talk over a SOCK_SEQPACKET socket pair. The worker sends the run's
id, a newline and `{"env", "unset", "cwd"}`, with the write end of a pipe for the run's output
attached (the server reads only the id: the child parses the rest); the server forks, the
child makes the pipe its stdout and stderr, starts a new session (so the
run is its own process group), and runs the engine. The server answers `started <run> <pid>`
(or `refused <run> <why>` when it cannot fork safely: a threaded process must not fork) and,
when a child ends (it is woken by SIGCHLD), `exit <pid> <code>` (negative: killed by that
signal). A child still running after `WAKE_SECONDS` gets `reporter.WAKE_SIGNAL` (it starts its
channel's helper thread then: most runs end before), and so does every child left running
when the worker goes.
"""

from __future__ import annotations

import array
import contextlib
import gc
import json
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from flowplan.runtime import reporter
from flowplan.runtime.infrastructure import Exit
from flowplan.runtime.logs import FLUSH_SECONDS

ORDER_LIMIT = 1 << 20  # bytes: a run's order (its id, directory and environment changes)
ANSWER_SECONDS = 120.0  # how long the worker waits for the server to answer an order
WAKE_SECONDS = FLUSH_SECONDS  # a run still going then starts its channel's helper thread

# -- the server ------------------------------------------------------------------------------


def serve(fd: int) -> int:
    """The server's loop (`python -m flowplan.runtime.engine --fork-server FD`)."""
    from flowplan.runtime import engine

    _name("flowplan-forks")
    engine.preload()
    gc.freeze()  # what is loaded now is never collected: children do not copy its pages
    channel = socket.socket(fileno=fd)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    reporter.expect_wake()
    # Orders are received into this one buffer and parsed only by the child, in its copy:
    # every page the server writes between two forks is copied once more, for nothing.
    buffer = bytearray(ORDER_LIMIT)
    sleepers: dict[int, float] = {}  # children not woken yet: when they are due
    while True:
        due = min(sleepers.values(), default=None)
        wait = None if due is None else max(due - time.monotonic(), 0.0)
        ready, _, _ = select.select([channel.fileno(), wake_read], [], [], wait)
        if wake_read in ready:
            os.read(wake_read, 4096)
            _reap(channel, sleepers)
        if due is not None:
            _wake(sleepers, time.monotonic())
        if channel.fileno() in ready:
            size, fds, truncated = _receive(channel, buffer)
            if not size:  # the worker is gone: stop; the runs still going notice it themselves
                _wake(sleepers, float("inf"))
                return 0
            end = buffer.find(b"\n", 0, size)
            run_id = bytes(buffer[: max(end, 0)])
            problem = threads_running()
            if truncated or end <= 0 or len(fds) != 1:  # (0: the order names no run)
                problem = problem or "the order was malformed or larger than 1 MB"
            if problem:
                for item in fds:
                    os.close(item)
                channel.send(b"refused %s %s" % (run_id, problem.encode()))
                continue
            # a wake sent before the child's interpreter is set up for it would be lost (Python
            # clears the signals a child got before it could handle them): it waits till then
            signal.pthread_sigmask(signal.SIG_BLOCK, {reporter.WAKE_SIGNAL})
            pid = os.fork()
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {reporter.WAKE_SIGNAL})
            if pid == 0:
                channel.close()
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.close(wake_read)
                os.close(wake_write)
                order = json.loads(buffer[end + 1 : size])
                os._exit(_child(run_id.decode(), order, fds[0], engine.main))
            os.close(fds[0])
            sleepers[pid] = time.monotonic() + WAKE_SECONDS
            channel.send(b"started %s %d" % (run_id, pid))


def _receive(channel: socket.socket, buffer: bytearray) -> tuple[int, list[int], bool]:
    """One order into `buffer`: its size (0: the channel closed), the file descriptors sent
    with it, and whether it was cut short (larger than the buffer)."""
    ancillary = socket.CMSG_SPACE(array.array("i").itemsize * 2)
    size, messages, flags, _ = channel.recvmsg_into([buffer], ancillary)
    fds = array.array("i")
    for level, kind, data in messages:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    return size, list(fds), bool(flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC))


def _reap(channel: socket.socket, sleepers: dict[int, float]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        sleepers.pop(pid, None)
        channel.send(f"exit {pid} {os.waitstatus_to_exitcode(status)}".encode())


def _wake(sleepers: dict[int, float], now: float) -> None:
    """Wake the children due by `now` (not reaped yet: their pids are still theirs)."""
    for pid in [pid for pid, due in sleepers.items() if due <= now]:
        del sleepers[pid]
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, reporter.WAKE_SIGNAL)


def threads_running() -> str:
    """Why this process must not fork (a fork copies a lock another thread holds, forever
    held in the child): its threads other than this one, or '' when it has none."""
    try:
        count = len(os.listdir("/proc/self/task"))  # noqa: PTH208 (no Path objects: every
        # page the server writes between two forks is copied once more)
    except OSError:
        count = threading.active_count()
    if count <= 1:
        return ""
    names = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    return f"{count - 1} other thread(s) are running ({', '.join(names) or 'native'})"


def _name(name: str) -> None:
    """Name this process (as `ps` and /proc/PID/comm show it; Linux only)."""
    with contextlib.suppress(OSError):
        fd = os.open("/proc/self/comm", os.O_WRONLY)
        try:
            os.write(fd, name.encode())
        finally:
            os.close(fd)


def _child(
    run_id: str, order: Mapping[str, Any], output: int, main: Callable[[list[str]], int]
) -> int:
    try:
        os.setsid()
        _name("flowplan-run")
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        if devnull:  # (0 when the server had no stdin)
            os.close(devnull)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        env = order["env"]
        assert isinstance(env, dict)
        os.environ.update(env)
        for key in order.get("unset") or ():
            os.environ.pop(str(key), None)
        os.chdir(str(order["cwd"]))
        code = main([run_id])
    except BaseException as exc:  # report anything at all: this is a run's whole process
        print(f"flowplan engine: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    return code


# -- the worker's side -----------------------------------------------------------------------


class ForkRefused(RuntimeError):
    pass


class ForkServer:
    def __init__(self, argv: list[str], on_death: Callable[[str], None] = lambda why: None) -> None:
        """`on_death` hears why the server died, unless it was closed."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        import subprocess

        self.environment = dict(os.environ)  # the server's: an order carries changes to it
        self.process = subprocess.Popen(
            [*argv, str(theirs.fileno())], pass_fds=[theirs.fileno()], env=self.environment,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        theirs.close()
        self.channel = ours
        self._lock = threading.Lock()
        self._started: dict[str, tuple[threading.Event, list[str]]] = {}
        self._children: dict[int, Forked] = {}
        self._early_exits: dict[int, int] = {}
        self.alive = True
        self.death = ""  # why it died, once it did
        self._closing = False
        self._on_death = on_death
        threading.Thread(target=self._read, name="flowplan-forkserver", daemon=True).start()

    def fork(self, run_id: str, env: Mapping[str, str], cwd: str) -> tuple[int, int]:
        """Start a run: (its pid, the read end of its output)."""
        output_read, output_write = os.pipe()
        event, box = threading.Event(), list[str]()
        with self._lock:
            self._started[run_id] = (event, box)
        server = self.environment
        order = b"%s\n%s" % (run_id.encode(), json.dumps({
            "cwd": cwd,  # only the changes to the server's environment
            "env": {key: value for key, value in env.items() if server.get(key) != value},
            "unset": [key for key in server if key not in env],
        }).encode())  # fmt: skip
        try:
            socket.send_fds(self.channel, [order], [output_write])
        except OSError:
            box.append("refused the fork server is gone")
        finally:
            os.close(output_write)
        if not box and (not event.wait(ANSWER_SECONDS) or not box):
            box.append(f"refused the fork server did not answer{self._why()}")
        kind, _, detail = box[0].partition(" ")
        if kind == "refused":
            os.close(output_read)
            raise ForkRefused(detail)
        return int(detail), output_read

    def follow(self, pid: int, child: Forked) -> None:
        with self._lock:
            if not self.alive:
                child.finish(Exit(255, self.death))
            elif pid in self._early_exits:
                child.finish(Exit(self._early_exits.pop(pid)))
            else:
                self._children[pid] = child

    def _read(self) -> None:
        while True:
            try:
                message = self.channel.recv(4096).decode()
            except OSError:
                message = ""
            if not message:
                break
            kind, first, second = message.split(" ", 2)
            with self._lock:
                if kind in ("started", "refused") and first in self._started:
                    event, box = self._started.pop(first)
                    box.append(f"{kind} {second}")
                    event.set()
                elif kind == "exit":
                    child = self._children.pop(int(first), None)
                    if child is None:
                        self._early_exits[int(first)] = int(second)
                    else:
                        child.finish(Exit(int(second)))
        self._died()

    def _died(self) -> None:
        """Nobody will report these runs' ends: end their process groups and say why."""
        with contextlib.suppress(Exception):
            self.process.wait(timeout=10)
        with self._lock:
            self.alive = False
            self.death = f"the worker's fork server died{self._why()}; the run's process was ended"
            for event, _ in self._started.values():
                event.set()
            children, self._children = list(self._children.items()), {}
        for pid, child in children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            child.finish(Exit(255, self.death))
        if not self._closing:
            self._on_death(self.death)

    def _why(self) -> str:
        code = self.process.poll()
        if code is None:
            return ""
        return f" ({Exit(code).describe().lower()})"

    def close(self) -> None:
        self._closing = True
        with contextlib.suppress(OSError):
            self.channel.shutdown(socket.SHUT_RDWR)
        self.process.wait()


class Forked:
    """The worker's view of a forked run's end (set by the server's `exit` message)."""

    def __init__(self) -> None:
        self.exit: Exit | None = None
        self.done = threading.Event()

    def finish(self, exit: Exit) -> None:
        if self.exit is None:
            self.exit = exit
            self.done.set()
