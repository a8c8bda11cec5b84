"""The fork server's side, in this process: its loop given real orders over a real socket pair
(forking real runs of the engine), and its parts: receiving an order with its descriptor,
reaping children, refusing to fork beside threads. (test_infrastructure.py runs it as the
worker does, in a process of its own; mutmut only sees what runs in the test process.)"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from flowplan.domain.objects import StateType
from flowplan.runtime import forkserver
from flowplan.runtime.infrastructure import Exit
from tests.integration.workers import wait_for
from tests.runtime.helpers import deployment, store


def pair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def test_an_order_is_received_with_its_descriptor() -> None:
    ours, theirs = pair()
    read, write = os.pipe()
    try:
        socket.send_fds(ours, [b"run-1\n{}"], [write])
        buffer = bytearray(64)
        size, fds, truncated = forkserver._receive(theirs, buffer)
        assert (bytes(buffer[:size]), len(fds), truncated) == (b"run-1\n{}", 1, False)
        os.write(fds[0], b"through")  # the same pipe, another descriptor
        assert os.read(read, 16) == b"through"
        os.close(fds[0])
        # two descriptors come as two; an order larger than the buffer is cut short
        socket.send_fds(ours, [b"x" * 100], [write, write])
        size, fds, truncated = forkserver._receive(theirs, buffer)
        assert (size, len(fds), truncated) == (64, 2, True)
        for fd in fds:
            os.close(fd)
        ours.send(b"plain")  # no descriptor
        size, fds, truncated = forkserver._receive(theirs, buffer)
        assert (bytes(buffer[:size]), fds, truncated) == (b"plain", [], False)
        ours.close()
        assert forkserver._receive(theirs, buffer) == (0, [], False)
    finally:
        for fd in (read, write):
            os.close(fd)
        theirs.close()


def _ended(pid: int) -> None:
    """Wait until child `pid` has ended, without reaping it."""
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)


def test_ended_children_are_reported_with_their_exit_code_or_signal() -> None:
    ours, theirs = pair()
    exited = os.fork()
    if exited == 0:
        os._exit(3)
    killed = os.fork()
    if killed == 0:
        os.kill(os.getpid(), signal.SIGKILL)
        os._exit(0)
    try:
        _ended(exited)
        _ended(killed)
        sleepers = {exited: 1.0, killed: 1.0}  # not woken yet: reaped, they are forgotten
        forkserver._reap(theirs, sleepers)
        assert sleepers == {}
        theirs.close()
        messages = set()
        while message := ours.recv(100):
            messages.add(message.decode())
        assert {f"exit {exited} 3", f"exit {killed} -9"} <= messages
        forkserver._reap(ours, {})  # nothing left to reap: returns
    finally:
        ours.close()


def test_reaping_stops_at_a_child_still_running() -> None:
    ours, theirs = pair()
    read, write = os.pipe()
    running = os.fork()
    if running == 0:
        os.close(write)
        os.read(read, 1)  # until the test lets it end
        os._exit(0)
    os.close(read)
    try:
        sleepers = {running: 1.0}
        forkserver._reap(theirs, sleepers)  # returns at once: the child runs on
        assert sleepers == {running: 1.0}
        ours.setblocking(False)
        with pytest.raises(BlockingIOError):
            ours.recv(100)
    finally:
        os.close(write)
        os.waitpid(running, 0)
        ours.close()
        theirs.close()


def _said(fd: int, size: int) -> bytes:
    """What a child wrote to `fd` (nothing if it wrote nothing in 30 s)."""
    import select

    return os.read(fd, size) if select.select([fd], [], [], 30)[0] else b""


def test_children_are_woken_when_due_and_then_forgotten() -> None:
    from flowplan.runtime import reporter

    children: dict[int, int] = {}  # pid: the read end of what it says when woken
    for _ in range(2):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # never back into pytest
            try:
                os.close(read)
                signal.signal(reporter.WAKE_SIGNAL, lambda *_, fd=write: os.write(fd, b"woken"))
                os.write(write, b"ready ")
                for _ in range(600):
                    time.sleep(0.05)
            finally:
                os._exit(0)
        os.close(write)
        children[pid] = read
    first, second = children
    try:
        for read in children.values():
            assert _said(read, 6) == b"ready "
        sleepers = {first: 10.0, second: 20.0, 2**22 + 1: 0.0}  # and a pid nobody has
        forkserver._wake(sleepers, 15.0)
        assert sleepers == {second: 20.0}
        assert _said(children[first], 5) == b"woken"
        forkserver._wake(sleepers, float("inf"))  # the worker went: every one left
        assert sleepers == {}
        assert _said(children[second], 5) == b"woken"
    finally:
        for pid, read in children.items():
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read)


def test_threads_are_named_when_they_forbid_a_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    stop = threading.Event()
    holder = threading.Thread(target=stop.wait, name="lock-holder")
    other = threading.Thread(target=stop.wait, name="other-holder")
    holder.start()
    other.start()
    try:
        why = forkserver.threads_running()
        count = len(list(Path("/proc/self/task").iterdir()))
        assert why.startswith(f"{count - 1} other thread(s) are running (")
        assert "lock-holder, other-holder" in why and "MainThread" not in why

        # without /proc, Python's own count
        def no_proc(path: str) -> list[str]:
            raise OSError(path)

        monkeypatch.setattr(os, "listdir", no_proc)
        why = forkserver.threads_running()
        assert why.startswith(f"{threading.active_count() - 1} other thread(s) are running (")
    finally:
        stop.set()
        holder.join()
        other.join()


def test_threads_python_does_not_know_of_are_said_to_be_native(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "listdir", lambda path: ["1", "2"])  # a thread started by C code
    monkeypatch.setattr(threading, "enumerate", lambda: [threading.current_thread()])
    assert forkserver.threads_running() == "1 other thread(s) are running (native)"


def test_a_single_threaded_process_may_fork() -> None:
    assert _forked(lambda: 0 if forkserver.threads_running() == "" else 1) == 0


def test_naming_the_process_without_proc_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_proc(path: str, flags: int) -> int:
        raise FileNotFoundError(path)

    monkeypatch.setattr(os, "open", no_proc)
    forkserver._name("fp-test-name")  # not Linux: nothing, and no error


def test_the_process_is_named() -> None:
    comm = Path("/proc/self/comm")
    before = comm.read_text().strip()
    try:
        forkserver._name("fp-test-name")
        assert comm.read_text().strip() == "fp-test-name"
    finally:
        forkserver._name(before)


def _read_all(fd: int) -> str:
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    os.close(fd)
    return data.decode()


def test_the_server_forks_runs_refuses_bad_orders_and_stops_when_the_worker_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    backend = store(home)
    source = """
        import os, sys
        from flowplan import flow

        @flow
        def f(n: int = 1):
            print(f"n={n} mark={os.environ.get('RUN_MARK')} gone={os.environ.get('GONE_VAR')}")
            print(f"session={os.getsid(0) == os.getpid()} stdin={os.read(0, 10)!r}")
            print("to stderr", file=sys.stderr)
        """
    deployment(backend, tmp_path, source=source)
    run = backend.create_flow_run("f/d", parameters={"n": 4})
    monkeypatch.setenv("GONE_VAR", "present")
    monkeypatch.delenv("FLOWPLAN_REPORTER", raising=False)
    ours, theirs = pair()
    outputs = [os.pipe() for _ in range(5)]
    order = {"env": {"FLOWPLAN_HOME": str(home), "RUN_MARK": "m1"}, "unset": ["GONE_VAR"],
             "cwd": str(tmp_path)}  # fmt: skip
    socket.send_fds(ours, [b"%s\n%s" % (run.id.encode(), json.dumps(order).encode())],
                    [outputs[0][1]])  # fmt: skip
    # malformed: refused (the longer order before left its newline further on in the buffer)
    socket.send_fds(ours, [b"no-newline"], [outputs[2][1]])
    socket.send_fds(ours, [b"\n{}"], [outputs[4][1]])  # no run id
    missing = {"env": {}, "cwd": str(tmp_path / "no-such-directory")}
    socket.send_fds(ours, [b"run-x\n" + json.dumps(missing).encode()], [outputs[1][1]])
    socket.send_fds(ours, [b"two\n{}"], [outputs[3][1], outputs[3][1]])  # two descriptors
    ours.send(b"none\n{}")  # no descriptor
    for _, write in outputs:
        os.close(write)
    fd = theirs.detach()
    answers: list[str] = []
    texts: list[str] = []

    def server() -> int:  # in a process of its own, as the worker starts it: one thread
        ours.close()
        _streams_to_descriptors()
        return forkserver.serve(fd)

    def worker() -> None:
        os.close(fd)
        texts.extend(_read_all(read) for read, _ in outputs)  # until the runs ended
        # every order answered, and both runs' exits reported
        while sum(a.startswith(("exit ", "refused ")) for a in answers) < 6:
            answers.append(ours.recv(4096).decode())
        ours.shutdown(socket.SHUT_WR)  # the worker is gone: the server stops

    assert _forked(server, worker) == 0
    ours.close()
    started = [a for a in answers if a.startswith("started ")]
    assert [a.rsplit(" ", 1)[0] for a in started] == [f"started {run.id}", "started run-x"]
    refusal = "the order was malformed or larger than 1 MB"
    assert [a for a in answers if a.startswith("refused ")] == [
        f"refused  {refusal}", f"refused  {refusal}", f"refused two {refusal}",
        f"refused none {refusal}",
    ]  # fmt: skip
    pids = [int(a.rsplit(" ", 1)[1]) for a in started]
    codes = {int(a.split()[1]): int(a.split()[2]) for a in answers if a.startswith("exit ")}
    assert codes == {pids[0]: 0, pids[1]: 1}
    output = texts[0]
    assert "n=4 mark=m1 gone=None" in output
    assert "session=True stdin=b''" in output
    assert "to stderr" in output and "Finished in state Completed()" in output
    assert backend.read_flow_run(run.id).state.type is StateType.COMPLETED
    assert "n=4 mark=m1 gone=None" in [line.message for line in backend.read_logs(run.id)]
    assert texts[1].startswith(
        "flowplan engine: FileNotFoundError: [Errno 2] No such file or directory:"
    )
    assert texts[2:] == ["", "", ""]  # refused: the server kept no end of these pipes


def test_runs_not_woken_yet_are_woken_when_the_worker_goes_and_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowplan.backends.local import LocalBackend
    from flowplan.runtime.reporter_server import ReporterServer

    home = tmp_path / "home"
    backend = store(home)
    source = """
        import pathlib, sys, time
        from flowplan import flow

        @flow
        def f(marker: str):
            print("started", flush=True)
            try:
                time.sleep(20)  # not woken, it would end by itself, and not say the line below
            finally:
                pathlib.Path(marker).write_text("finally ran")
        """
    deployment(backend, tmp_path, source=source)
    marker = tmp_path / "marker"
    run = backend.create_flow_run("f/d", parameters={"marker": str(marker)})
    monkeypatch.setattr(forkserver, "WAKE_SECONDS", 3600.0)  # (the server is forked from here)
    channel = ReporterServer(lambda: LocalBackend(home / "flowplan.db"))
    ours, theirs = pair()
    read, write = os.pipe()
    order = {"env": {"FLOWPLAN_HOME": str(home), "FLOWPLAN_REPORTER": channel.register(run)},
             "cwd": str(tmp_path)}  # fmt: skip
    socket.send_fds(ours, [b"%s\n%s" % (run.id.encode(), json.dumps(order).encode())], [write])
    os.close(write)
    fd = theirs.detach()

    def server() -> int:
        ours.close()
        _streams_to_descriptors()
        return forkserver.serve(fd)

    pids: list[int] = []

    def worker() -> None:
        os.close(fd)
        pids.append(int(ours.recv(4096).decode().rsplit(" ", 1)[1]))  # started <run> <pid>
        output = b""
        while b"started" not in output:
            output += os.read(read, 4096)
        channel.close()  # the worker dies: its channel, then its fork server's socket
        ours.shutdown(socket.SHUT_WR)

    try:
        assert _forked(server, worker) == 0  # the server stopped, and woke its run first
        wait_for("the run to stop", marker.exists)
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    ours.close()
    said = _read_all(read)
    assert "flowplan engine: the worker is gone; stopping the run" in said
    assert "flowplan engine: the run was stopped (SIGTERM)" in said  # not ended by itself
    assert marker.read_text() == "finally ran"


def test_a_run_still_going_when_due_is_woken_in_a_process_holding_nothing_of_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server wakes a run still going after `WAKE_SECONDS` without waiting for anything
    else to happen (no order, no end of a run), here at once: before the run's process was set
    up to handle it, a wake that must not be lost. The run holds none of the server's
    descriptors and handlers."""
    from flowplan.runtime import engine, reporter

    monkeypatch.setattr(forkserver, "WAKE_SECONDS", 0.0)  # (the server is forked from here)
    hold_read, hold_write = os.pipe()  # the run goes on until the test writes here
    ours, theirs = pair()
    fd = theirs.detach()
    channel = str(Path(f"/proc/self/fd/{fd}").readlink())  # socket:[inode]

    def fake_main(argv: list[str]) -> int:  # the run's engine, in the run's process
        signal.pthread_sigmask(signal.SIG_BLOCK, {reporter.WAKE_SIGNAL})
        # (a wake that came before the signal was blocked went to the server's handler)
        woken = reporter._woken or signal.sigtimedwait({reporter.WAKE_SIGNAL}, 30) is not None
        state = {
            "argv": argv,
            "woken": woken,
            "holds_channel": channel in _descriptors(),
            "wakeup_fd": signal.set_wakeup_fd(-1),
            "sigchld_default": signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL,
            "server": Path(f"/proc/{os.getppid()}/comm").read_text().strip(),
        }
        print(json.dumps(state), flush=True)
        select.select([hold_read], [], [], 30)  # until the test lets it end
        return 5

    monkeypatch.setattr(engine, "main", fake_main)
    read, write = os.pipe()
    order = {"env": {}, "cwd": str(tmp_path)}
    socket.send_fds(ours, [b"r-wake\n" + json.dumps(order).encode()], [write])
    os.close(write)

    def server() -> int:
        ours.close()
        _streams_to_descriptors()
        return forkserver.serve(fd)

    answers: list[str] = []
    said: list[dict[str, object]] = []

    def worker() -> None:
        os.close(fd)
        try:
            answers.append(ours.recv(4096).decode())  # started
            line = b""
            while not line.endswith(b"\n"):
                chunk = os.read(read, 4096)
                assert chunk, "the run ended without saying anything"
                line += chunk
            said.append(json.loads(line))
            # the run goes on: the server has not reported its end
            ours.setblocking(False)
            with pytest.raises(BlockingIOError):
                ours.recv(4096)
            ours.setblocking(True)
        finally:
            os.write(hold_write, b"x")  # the run ends now
        answers.append(ours.recv(4096).decode())  # exit
        ours.shutdown(socket.SHUT_WR)

    try:
        assert _forked(server, worker) == 0
    finally:
        for fd_ in (hold_read, hold_write):
            with contextlib.suppress(OSError):
                os.close(fd_)
    ours.close()
    pid = int(answers[0].rsplit(" ", 1)[1])
    assert answers == [f"started r-wake {pid}", f"exit {pid} 5"]
    assert said == [
        {
            "argv": ["r-wake"],
            "woken": True,
            "holds_channel": False,
            "wakeup_fd": -1,
            "sigchld_default": True,
            "server": "flowplan-forks",
        }
    ]
    assert _read_all(read) == ""


def test_a_server_with_another_thread_refuses_to_fork() -> None:
    ours, theirs = pair()
    read, write = os.pipe()
    socket.send_fds(ours, [b"r-threaded\n{}"], [write])
    os.close(write)
    fd = theirs.detach()

    def server() -> int:
        ours.close()
        stop = threading.Event()
        threading.Thread(target=stop.wait, name="a-lock-holder", daemon=True).start()
        return forkserver.serve(fd)

    answers: list[str] = []

    def worker() -> None:
        os.close(fd)
        answers.append(ours.recv(4096).decode())
        ours.shutdown(socket.SHUT_WR)

    assert _forked(server, worker) == 0
    ours.close()
    assert answers == ["refused r-threaded 1 other thread(s) are running (a-lock-holder)"]
    assert _read_all(read) == ""  # the server kept no end of the run's output


def _numbers() -> set[int]:
    """This process's open descriptors (not the one that listed them, closed since)."""
    return {int(path.name) for path in Path("/proc/self/fd").iterdir() if path.exists()}


def _descriptors() -> set[str]:
    """What this process's descriptors are open on."""
    found = set()
    for path in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):  # (the directory's own, closed since)
            found.add(str(path.readlink()))
    return found


def _forked(action: Callable[[], int], meanwhile: Callable[[], None] = lambda: None) -> int:
    """`action` in a forked child (a run's process, as the server makes it): its exit code.
    Under mutmut, the functions the child ran are added to those this test ran (mutmut
    attributes a mutant's tests by what runs in the test's own process)."""
    hits_read, hits_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # never back into pytest from here, whatever `action` does
        code = 70
        try:
            os.close(hits_read)
            result = action()
            code = result if isinstance(result, int) else 71
        except BaseException:
            code = 72
        finally:
            with contextlib.suppress(BaseException):
                stats = sys.modules.get("mutmut.state")
                names = sorted(stats.state()._stats) if stats is not None else []
                os.write(hits_write, json.dumps(names).encode())
            os._exit(code)
    os.close(hits_write)
    meanwhile()
    hits = json.loads(_read_all(hits_read) or "[]")
    stats = sys.modules.get("mutmut.state")
    if stats is not None:
        stats.state()._stats.update(hits)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _streams_to_descriptors() -> None:
    """`print` to descriptors 1 and 2, as in a server of its own (not pytest's capture)."""
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115


def test_a_run_process_is_set_up_from_its_order_and_runs_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_main(argv: list[str]) -> int:
        print(f"argv={argv} mark={os.environ.get('RUN_MARK')} gone={os.environ.get('GONE_VAR')}")
        print(f"cwd={Path.cwd()} session={os.getsid(0) == os.getpid()} stdin={os.read(0, 9)!r}")
        print(f"term={signal.getsignal(signal.SIGTERM) == signal.SIG_DFL}")
        print(f"int={signal.getsignal(signal.SIGINT) is signal.default_int_handler}")
        print(f"comm={Path('/proc/self/comm').read_text().strip()}")
        print(f"new descriptors={_numbers() - before}")  # /dev/null is its stdin only
        print("to stderr", file=sys.stderr, end="")
        return 4

    monkeypatch.setenv("GONE_VAR", "here")
    read, write = os.pipe()
    before: set[int] = set()
    order = {"env": {"RUN_MARK": "m2"}, "unset": ["GONE_VAR", "NEVER_SET_VAR"],
             "cwd": str(tmp_path)}  # fmt: skip

    def child() -> int:
        os.close(read)
        given, feed = os.pipe()  # what the server's stdin had: the run reads none of it
        os.write(feed, b"not-yours")
        os.dup2(given, 0)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # what the server's process had
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _streams_to_descriptors()
        before.update(_numbers())
        return forkserver._child("r1", order, write, fake_main)

    assert _forked(child) == 4
    os.close(write)
    assert _read_all(read).splitlines() == [
        "argv=['r1'] mark=m2 gone=None",
        f"cwd={tmp_path} session=True stdin=b''",
        "term=True", "int=True", "comm=flowplan-run", "new descriptors=set()", "to stderr",
    ]  # fmt: skip


def test_a_run_process_reports_when_its_engine_raises(tmp_path: Path) -> None:
    def broken(argv: list[str]) -> int:
        raise KeyboardInterrupt()

    read, write = os.pipe()

    def child() -> int:
        os.close(read)
        _streams_to_descriptors()
        return forkserver._child("r1", {"env": {}, "cwd": str(tmp_path)}, write, broken)

    assert _forked(child) == 1
    os.close(write)
    assert _read_all(read) == "flowplan engine: KeyboardInterrupt: \n"


def test_a_run_process_whose_output_nobody_reads_still_ends_with_its_code(
    tmp_path: Path,
) -> None:
    def main(argv: list[str]) -> int:
        print("buffered, flushed at the end into a pipe nobody reads")
        return 3

    read, write = os.pipe()
    os.close(read)  # the worker is gone

    def child() -> int:
        _streams_to_descriptors()
        return forkserver._child("r1", {"env": {}, "cwd": str(tmp_path)}, write, main)

    assert _forked(child) == 3
    os.close(write)


FAKE_SERVER = """
import json, os, socket, sys
channel = socket.socket(fileno=int(sys.argv[1]))
null = os.path.samestat(os.fstat(0), os.stat(os.devnull))
os.write(1, f"session={os.getsid(0) == os.getpid()} stdin_null={null}\\n".encode())
while True:
    message, fds, _, _ = socket.recv_fds(channel, 4096, 2)
    if not message:
        break
    run_id, _, order = message.decode().partition("\\n")
    for fd in fds:  # the run's output: its order, as the server got it
        os.write(fd, order.encode())
        os.close(fd)
    env = json.loads(order)["env"]
    if "EXIT_FIRST" in env:  # a run's end, reported before this answer
        channel.send(f"exit {env['EXIT_FIRST']}".encode())
    if env.get("ANSWER") == "refused":
        channel.send(f"refused {run_id} not today".encode())
    elif env.get("ANSWER") == "die":
        sys.exit(7)
    elif env.get("ANSWER") == "none":
        pass
    else:
        channel.send(f"started {run_id} {env['FAKE_PID']}".encode())
"""


def test_the_workers_side_follows_exits_early_or_late_and_the_servers_death(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fake server run by the test: what the worker's side sends, and what it makes of the
    answers. Runs are real processes in sessions of their own (the server's children are)."""
    # the fake answers at once once it runs: a lost answer fails the test in seconds
    monkeypatch.setattr(forkserver, "ANSWER_SECONDS", 5.0)
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE_SERVER)
    sleepers = [
        subprocess.Popen(["sleep", "60"], start_new_session=True) for _ in range(3)
    ]  # fmt: skip
    early, late, stay = (str(p.pid) for p in sleepers)
    gone = subprocess.Popen(["true"], start_new_session=True)
    gone.wait()  # its process and group are gone
    deaths: list[str] = []
    stdin, (piped, feed) = os.dup(0), os.pipe()
    os.dup2(piped, 0)  # this process's stdin is a pipe: the server's must not be
    try:
        server = forkserver.ForkServer([sys.executable, str(script)], on_death=deaths.append)
    finally:
        os.dup2(stdin, 0)
        for fd in (stdin, piped, feed):
            os.close(fd)
    out: list[str] = []
    wait_for("the fake server", lambda: out.append(capfd.readouterr().out) or "".join(out))
    try:
        base = {**os.environ, "ADDED": "1"}
        base.pop("HOME", None)
        here = str(tmp_path)
        # its exit comes before its start is answered: kept until it is followed
        env = {**base, "FAKE_PID": early, "EXIT_FIRST": f"{early} 5"}
        pid, output = server.fork("early", env, here)
        assert pid == int(early)
        assert json.loads(_read_all(output)) == {  # only the changes to this environment
            "cwd": here, "env": {"ADDED": "1", "FAKE_PID": early, "EXIT_FIRST": f"{early} 5"},
            "unset": ["HOME"],
        }  # fmt: skip
        followed = forkserver.Forked()
        server.follow(pid, followed)
        assert followed.exit == Exit(5)
        with pytest.raises(forkserver.ForkRefused, match=r"^not today$"):
            server.fork("bad", {**base, "ANSWER": "refused"}, here)
        # its exit comes after it is followed
        pid, output = server.fork("late", {**base, "FAKE_PID": late}, here)
        os.close(output)
        followed_late = forkserver.Forked()
        server.follow(pid, followed_late)
        assert followed_late.exit is None
        env = {**base, "FAKE_PID": stay, "EXIT_FIRST": f"{late} -15"}
        pid, output = server.fork("stay", env, here)
        os.close(output)
        assert followed_late.exit == Exit(-15)
        followed_stay = forkserver.Forked()
        server.follow(pid, followed_stay)
        # a run whose process (and group) is gone before the server dies
        pid, output = server.fork("gone", {**base, "FAKE_PID": str(gone.pid)}, here)
        os.close(output)
        followed_gone = forkserver.Forked()
        server.follow(pid, followed_gone)
        # an order the server does not answer while it runs
        monkeypatch.setattr(forkserver, "ANSWER_SECONDS", 0.1)
        with pytest.raises(forkserver.ForkRefused, match=r"^the fork server did not answer$"):
            server.fork("unanswered", {**base, "ANSWER": "none"}, here)
        monkeypatch.setattr(forkserver, "ANSWER_SECONDS", 5.0)
        # the server dies: nobody will report the runs it started, which are ended
        with pytest.raises(forkserver.ForkRefused, match="the fork server did not answer"):
            server.fork("die", {**base, "ANSWER": "die"}, here)
        assert followed_stay.done.wait(30)
        death = (
            "the worker's fork server died (process exited with status code 7); the run's"
            " process was ended"
        )
        assert server.death == death and deaths == [death] and server.alive is False
        assert followed_stay.exit == Exit(255, death)
        assert followed_gone.done.wait(30) and followed_gone.exit == Exit(255, death)
        assert sleepers[2].wait(30) == -signal.SIGKILL  # its process group was killed
        assert sleepers[1].poll() is None  # a run that ended is not the worker's to kill
        after = forkserver.Forked()
        server.follow(1234, after)  # a run followed after the death ends at once
        assert after.exit == Exit(255, death)
        with pytest.raises(forkserver.ForkRefused, match=r"^the fork server is gone$"):
            server.fork("again", base, here)
        # the server is its own session, reading nothing
        assert "session=True stdin_null=True" in "".join(out)
    finally:
        server.close()
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()


def test_a_closed_server_tells_nobody_of_its_death(tmp_path: Path) -> None:
    script = tmp_path / "idle.py"
    script.write_text(
        "import socket, sys\n"
        "channel = socket.socket(fileno=int(sys.argv[1]))\n"
        "while channel.recv(4096):\n"
        "    pass\n"
    )
    deaths: list[str] = []
    server = forkserver.ForkServer([sys.executable, str(script)], on_death=deaths.append)
    readers = [t for t in threading.enumerate() if t.name == "flowplan-forkserver"]
    assert readers and all(t.daemon for t in readers)  # it never holds up the worker's exit
    server.close()
    assert server.process.returncode == 0
    for thread in threading.enumerate():
        if thread.name == "flowplan-forkserver":
            thread.join(30)
    assert server.alive is False and deaths == []


def test_a_forked_run_finishes_once() -> None:
    forked = forkserver.Forked()
    forked.finish(Exit(0))
    forked.finish(Exit(1))
    assert forked.exit == Exit(0) and forked.done.is_set()
