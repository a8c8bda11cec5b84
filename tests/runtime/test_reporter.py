"""The reporting channel: a run's engine works with nothing but the channel and its code, and a
token lets a run read and report only itself."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowplan import masking
from flowplan.backends.local import LocalBackend
from flowplan.domain.clock import utcnow
from flowplan.domain.objects import LogLine, StateType
from flowplan.errors import FlowplanError, ObjectNotFound
from flowplan.runtime import reporter, reporter_server
from flowplan.runtime.reporter import ENV, ChannelClosed, SocketReporter, StoreReporter
from flowplan.runtime.reporter_server import ReporterServer
from tests.integration.workers import wait_for
from tests.runtime.helpers import deployment

SOURCE = """
import json
import os
from flowplan import flow
from flowplan.runtime import flow_run

@flow
def f(n: int = 1):
    print(f"n={n} run={flow_run.name} home={os.environ['FLOWPLAN_HOME']}")
"""


def listening_worker(tmp_path: Path) -> tuple[str, socket.socket]:
    """The test as a run's worker: the channel's address and its listening socket (a run opens
    two connections: requests, and its helper thread's watch)."""
    path = str(tmp_path / "worker.sock")
    worker = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    worker.bind(path)
    worker.listen(2)
    return f"unix:{path}", worker


def worker_goes(worker: socket.socket, connections: int) -> None:
    """The worker takes the run's connections, then goes away."""
    for _ in range(connections):
        worker.accept()[0].close()
    worker.close()


@pytest.fixture
def stops(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The process groups the channel asks to stop, and with which signal (recorded, not sent)."""
    stopped: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "killpg", lambda group, sig: stopped.append((group, sig)))
    return stopped


def test_a_run_needs_only_the_channel_and_its_code(
    tmp_path: Path, backend: LocalBackend, server: ReporterServer
) -> None:
    steps = [{"prefect.deployments.steps.set_working_directory": {"directory": str(tmp_path)}},
             {"prefect.deployments.steps.run_shell_script": {
                 "script": "echo {{ prefect.variables.greeting }}", "stream_output": True}}]  # fmt: skip
    deployment(backend, tmp_path, source=SOURCE, pull_steps=steps)
    backend.set_variable("greeting", "hello")
    run = backend.create_flow_run("f/d", parameters={"n": 7})
    nowhere = tmp_path / "no-store-here"
    env = {**os.environ, "FLOWPLAN_HOME": str(nowhere), ENV: server.register(run)}
    done = subprocess.run(
        [sys.executable, "-m", "flowplan.runtime.engine", run.id], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    finished = backend.read_flow_run(run.id)
    assert finished.state.type is StateType.COMPLETED
    messages = [line.message for line in backend.read_logs(run.id)]
    assert f"n=7 run={run.name} home={nowhere}" in messages
    assert "hello" in messages
    assert not nowhere.exists()  # the engine never opened a store


def test_a_token_reads_and_reports_only_its_own_run(
    tmp_path: Path, backend: LocalBackend, server: ReporterServer, request: pytest.FixtureRequest
) -> None:
    deployment(backend, tmp_path)
    mine, other = backend.create_flow_run("f/d"), backend.create_flow_run("f/d")
    address = server.register(mine)
    client = SocketReporter(address)
    request.addfinalizer(client.close)
    assert client.read_flow_run(mine.id).id == mine.id
    assert client.read_deployment(mine.deployment_id or "").name == "d"
    with pytest.raises(FlowplanError, match="a run may read and report only itself"):
        client.read_flow_run(other.id)
    with pytest.raises(FlowplanError, match="a run may read and report only itself"):
        client.set_flow_run_state(other.id, StateType.RUNNING)
    with pytest.raises(FlowplanError, match="a run may read and report only itself"):
        client.write_logs([LogLine(other.id, utcnow(), 20, "not mine")])
    with pytest.raises(ObjectNotFound):
        client.read_secret_value("missing")
    server.unregister(address)
    with pytest.raises(FlowplanError, match="unknown or expired reporting token"):
        client.read_flow_run(mine.id)
    assert backend.read_logs(other.id) == []


def test_a_run_reports_its_states_and_logs_and_reads_variables_and_secrets(
    tmp_path: Path, backend: LocalBackend, server: ReporterServer, request: pytest.FixtureRequest
) -> None:
    deployment(backend, tmp_path)
    backend.set_variable("greeting", {"text": "hello"}, tags=["a", "b"])
    backend.set_secret("token", "reporter-s3cret-value")
    run = backend.create_flow_run("f/d")
    client = SocketReporter(server.register(run))
    request.addfinalizer(client.close)
    client.set_flow_run_state(run.id, StateType.RUNNING, name="Running", message="started")
    client.set_flow_run_state(run.id, StateType.COMPLETED, message="done")
    state = backend.read_flow_run(run.id).state
    assert (state.type, state.name, state.message) == (StateType.COMPLETED, "Completed", "done")
    with pytest.raises(FlowplanError, match="already COMPLETED"):  # not forced unless asked
        client.set_flow_run_state(run.id, StateType.FAILED, name="Oops", message="late")
    client.set_flow_run_state(run.id, StateType.FAILED, name="Oops", message="late", force=True)
    state = backend.read_flow_run(run.id).state
    assert (state.type, state.name, state.message) == (StateType.FAILED, "Oops", "late")
    client.write_logs([LogLine(run.id, utcnow(), 20, "one"), LogLine(run.id, utcnow(), 40, "two")])
    assert [(line.level, line.message) for line in backend.read_logs(run.id)] == [
        (20, "one"), (40, "two")]  # fmt: skip
    variable = client.read_variable("greeting")
    stored = backend.read_variable("greeting")
    assert (variable.name, variable.value, variable.tags) == ("greeting", {"text": "hello"},
                                                             ("a", "b"))  # fmt: skip
    assert (variable.created, variable.updated) == (stored.created, stored.updated)
    assert client.read_secret_value("token") == "reporter-s3cret-value"
    assert "reporter-s3cret-value" not in masking.mask("the token is reporter-s3cret-value")


def test_a_channel_that_cannot_be_reached_or_closes_says_so(
    tmp_path: Path, stops: list[tuple[int, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ChannelClosed, match="cannot reach the worker's reporting channel"):
        SocketReporter(f"unix:{tmp_path / 'worker.sock'} token")
    address, worker = listening_worker(tmp_path)  # a worker that then goes
    client = SocketReporter(f"{address} token")
    worker_goes(worker, 2)
    wait_for("the run to be stopped", lambda: stops)
    assert stops == [(os.getpgrp(), signal.SIGTERM)]
    assert capsys.readouterr().err == "flowplan engine: the worker is gone; stopping the run\n"
    with pytest.raises(ChannelClosed, match="the worker's reporting channel closed"):
        client.read_flow_run("any")
    client.close()


def test_an_answer_in_pieces_or_ahead_of_its_request_is_read_whole(
    tmp_path: Path, stops: list[tuple[int, int]]
) -> None:
    """The engine reads its answers straight from the socket: an answer that comes in two
    pieces is one answer, one sent with the next is kept for the next request, and a channel
    that closes in the middle of one says so."""
    address, worker = listening_worker(tmp_path)
    client = SocketReporter(f"{address} token")
    requests, _ = worker.accept()
    watch, _ = worker.accept()  # the helper thread's
    asked: list[str] = []

    def answer() -> None:
        requests.settimeout(10)  # a client that waits for nothing fails the test, not hangs it
        with requests, requests.makefile("rb") as stream:
            asked.append(json.loads(stream.readline())["args"]["run_id"])
            requests.sendall(b'{"result": "fir')
            threading.Event().wait(0.05)
            requests.sendall(b'st"}\n{"result": "second"}\n')
            asked.extend(json.loads(stream.readline())["args"]["run_id"] for _ in range(2))
            requests.sendall(b'{"resu')

    thread = threading.Thread(target=answer)
    thread.start()
    try:
        assert client.set_flow_run_state("r1", StateType.RUNNING) == "first"
        assert client.set_flow_run_state("r2", StateType.RUNNING) == "second"
        with pytest.raises(ChannelClosed, match="the worker's reporting channel closed"):
            client.set_flow_run_state("r3", StateType.RUNNING)
    finally:
        thread.join()
        client.close()
        watch.close()
        worker.close()
    assert asked == ["r1", "r2", "r3"]
    assert stops == []


def test_a_run_that_closes_its_channel_is_not_stopped(
    tmp_path: Path, backend: LocalBackend, server: ReporterServer, stops: list[tuple[int, int]]
) -> None:
    deployment(backend, tmp_path)
    run = backend.create_flow_run("f/d")
    client = SocketReporter(server.register(run))
    # the run's one helper thread is a bare thread (no threading.Thread): found by its ident
    wait_for("the channel's thread", lambda: client.helper_ident in sys._current_frames())
    client.close()
    wait_for(
        "the channel's thread to end", lambda: client.helper_ident not in sys._current_frames()
    )
    assert stops == []  # it ended without stopping the run


def test_a_run_says_when_its_flow_is_called_with_a_timeout(
    tmp_path: Path, backend: LocalBackend, server: ReporterServer, request: pytest.FixtureRequest
) -> None:
    """The worker enforces the timeout too: its watcher hears the call and its end."""
    deployment(backend, tmp_path)
    run, other = backend.create_flow_run("f/d"), backend.create_flow_run("f/d")
    heard: list[float | None] = []
    client = SocketReporter(server.register(run, heard.append))
    request.addfinalizer(client.close)
    client.flow_call(run.id, 2.5)
    client.flow_call(run.id, None)
    with pytest.raises(FlowplanError) as refused:
        client.flow_call(other.id, 1.0)
    assert str(refused.value) == "a run may read and report only itself"
    assert heard == [2.5, None]


def test_the_channels_errors_keep_their_kind_and_its_end_is_said(
    tmp_path: Path, backend: LocalBackend, server: ReporterServer
) -> None:
    deployment(backend, tmp_path)
    run = backend.create_flow_run("f/d")
    client = SocketReporter(server.register(run))
    with pytest.raises(ObjectNotFound, match="missing"):
        client.read_variable("missing")
    with pytest.raises(FlowplanError) as refused:
        client.read_flow_run("someone-else")
    assert type(refused.value) is FlowplanError  # not "not found": the run exists
    client.close()
    with pytest.raises(ChannelClosed) as closed:
        client.read_flow_run(run.id)
    assert str(closed.value) == "the worker's reporting channel closed (the worker is gone)"


def test_a_secret_read_through_the_channel_is_masked_in_the_runs_output(tmp_path: Path) -> None:
    """The run masks what it read itself, whatever the worker did: here the test is the
    worker, answering over a real socket."""
    secret = f"channel-only-s3cret-{uuid.uuid4().hex}"  # new to this process's masking
    address, worker = listening_worker(tmp_path)
    client = SocketReporter(f"{address} the-token")
    connection, watch = worker.accept()[0], worker.accept()[0]
    try:
        stream = connection.makefile("rwb")
        connection.sendall(json.dumps({"result": secret}).encode() + b"\n")
        assert client.read_secret_value("token") == secret
        assert json.loads(stream.readline()) == {
            "token": "the-token", "method": "read_secret_value", "args": {"name": "token"}}  # fmt: skip
        assert secret not in masking.mask(f"it is {secret}")
    finally:
        client.close()  # first: a channel whose worker goes stops its run
        for each in (connection, watch, worker):
            each.close()


def test_a_run_that_closes_its_channel_while_the_channel_works_ends_it_quietly(
    tmp_path: Path,
    backend: LocalBackend,
    server: ReporterServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    stops: list[tuple[int, int]],
) -> None:
    """Closed while its thread runs what `every` asked (the run's last log flush): the thread
    then finds its connection closed, ends, and neither stops the run nor says anything."""
    deployment(backend, tmp_path)
    run = backend.create_flow_run("f/d")
    failed: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", failed.append)
    client = SocketReporter(server.register(run))
    inside, release = threading.Event(), threading.Event()

    def flush() -> None:
        inside.set()
        release.wait()

    client.every(0.01, flush)
    assert inside.wait(60)
    client.close()
    release.set()
    wait_for(
        "the channel's thread to end", lambda: client.helper_ident not in sys._current_frames()
    )
    assert (stops, failed) == ([], [])
    assert "worker is gone" not in capsys.readouterr().err


def test_a_run_reads_only_its_own_deployment_and_asks_only_known_methods(
    tmp_path: Path, backend: LocalBackend, server: ReporterServer, request: pytest.FixtureRequest
) -> None:
    deployment(backend, tmp_path)
    other = deployment(backend, tmp_path, name="other")
    run = backend.create_flow_run("f/d")
    address = server.register(run)
    client = SocketReporter(address)
    request.addfinalizer(client.close)
    with pytest.raises(FlowplanError) as refused:
        client.read_deployment(other.id)
    assert str(refused.value) == "a run may read only its own deployment"
    with pytest.raises(FlowplanError) as unknown:
        client._call("delete_everything", run_id=run.id)
    assert str(unknown.value) == "unknown method 'delete_everything'"
    server.unregister(address)
    server.unregister(address)  # twice, or an address never registered: nothing to do
    server.unregister(f"unix:{server.path} never-issued")
    with pytest.raises(FlowplanError) as expired:
        client.read_flow_run(run.id)
    assert str(expired.value) == "unknown or expired reporting token"


def ask(stream: Any, *requests: bytes) -> list[dict[str, Any]]:
    """Send raw request bytes as they are, then read one answer line per newline sent."""
    for part in requests:
        stream.write(part)
        stream.flush()
    return [json.loads(stream.readline()) for _ in range(sum(r.count(b"\n") for r in requests))]


def test_the_channel_answers_whole_lines_in_order_and_survives_bad_requests(
    tmp_path: Path, backend: LocalBackend, server: ReporterServer
) -> None:
    deployment(backend, tmp_path)
    run = backend.create_flow_run("f/d")
    token = server.register(run).rpartition(" ")[2]
    read = json.dumps({"token": token, "method": "read_flow_run", "args": {"run_id": run.id}})
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
        raw.connect(server.path)
        stream = raw.makefile("rwb")
        # two requests in one write, then one request split over two writes
        first, second = ask(stream, f"{read}\n{read}\n".encode())
        assert first["result"]["id"] == second["result"]["id"] == run.id
        [split] = ask(stream, read[:10].encode(), read[10:].encode() + b"\n")
        assert split["result"]["id"] == run.id
        [empty, after] = ask(stream, b"\n" + read.encode() + b"\n")  # an empty line too
        assert empty["error"]["message"].startswith("JSONDecodeError: ")
        assert after["result"]["id"] == run.id
        [bad] = ask(stream, b"this is no json\n")
        assert bad["error"]["kind"] == "error"
        assert bad["error"]["message"].startswith("JSONDecodeError: ")
        [incomplete] = ask(stream, json.dumps({"token": token, "method": "read_flow_run"}).encode()
                           + b"\n")  # fmt: skip
        assert incomplete == {"error": {"kind": "error", "message": "KeyError: 'run_id'"}}
        [missing] = ask(stream, json.dumps({"token": token, "method": "read_variable",
                                            "args": {"name": "nope"}}).encode() + b"\n")  # fmt: skip
        assert missing["error"]["kind"] == "not_found"
        [unknown] = ask(stream, json.dumps({"token": "nope", "method": "read_flow_run",
                                            "args": {"run_id": run.id}}).encode() + b"\n")  # fmt: skip
        assert unknown == {
            "error": {"kind": "error", "message": "unknown or expired reporting token"}}  # fmt: skip
        [called] = ask(stream, json.dumps({"token": token, "method": "flow_call",
                                           "args": {"run_id": run.id, "timeout": 3}}).encode()
                       + b"\n")  # fmt: skip
        assert called == {"result": None}
        backend.set_flow_run_state(run.id, StateType.RUNNING)
        [finished] = ask(stream, json.dumps({"token": token, "method": "finish", "args": {
            "run_id": run.id, "state_type": "COMPLETED"}}).encode() + b"\n")  # fmt: skip
        assert finished == {"result": None}
        [again] = ask(stream, f"{read}\n".encode())  # still served
        assert again["result"]["id"] == run.id
        # closed: connections still open are served until they close, new ones are refused
        server.close()
        [late] = ask(stream, f"{read}\n".encode())
        assert late["result"]["id"] == run.id
        refused = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with refused, pytest.raises(OSError):
            refused.connect(server.path)
        # a run that closes its side has the channel's closed too (not served forever)
        raw.settimeout(10)
        raw.shutdown(socket.SHUT_WR)
        assert stream.read() == b""
    assert not Path(server.path).parent.exists()  # its private directory is removed


def test_the_channels_directory_is_private_and_its_thread_never_holds_the_worker(
    tmp_path: Path,
) -> None:
    before = set(threading.enumerate())
    server = ReporterServer(lambda: LocalBackend(tmp_path / "home" / "flowplan.db"))
    directory = Path(server.path).parent
    assert directory.stat().st_mode & 0o777 == 0o700
    assert directory.name.startswith("flowplan-worker-")  # whose it is, for an operator
    assert server.path == str(directory / "reporter.sock")
    [thread] = set(threading.enumerate()) - before
    assert thread.name == "flowplan-reporter"
    assert thread.daemon  # a worker that ends without closing its channel still exits
    server.close()
    server.close()  # twice: nothing more to do
    assert not directory.exists()


@pytest.fixture
def own_tmp(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Path:
    """A temporary directory of the test's own (short: a socket path is at most 107 bytes)."""
    own = Path(tempfile.mkdtemp(prefix="fpt-"))
    request.addfinalizer(lambda: shutil.rmtree(own))
    monkeypatch.setattr(tempfile, "tempdir", str(own))
    return own


def channel_directory(parent: Path, name: str, age: float, bound: bool) -> Path:
    """A channel's directory `age` seconds old, its socket closed (its worker was killed) or
    never made."""
    directory = parent / f"{reporter_server.PREFIX}{name}"
    directory.mkdir(mode=0o700)
    if bound:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            server.bind(str(directory / reporter_server.SOCKET))
    os.utime(directory, (time.time() - age, time.time() - age))
    return directory


def test_a_new_channel_removes_the_directories_of_killed_workers_only(
    own_tmp: Path, tmp_path: Path, backend: LocalBackend, request: pytest.FixtureRequest
) -> None:
    connect = lambda: LocalBackend(tmp_path / "home" / "flowplan.db")  # noqa: E731
    serving = ReporterServer(connect)  # a live worker's, started two minutes ago
    request.addfinalizer(serving.close)
    live = Path(serving.path).parent
    os.utime(live, (time.time() - 120, time.time() - 120))
    killed = channel_directory(own_tmp, "killed", 120, bound=True)
    unbound = channel_directory(own_tmp, "unbound", 120, bound=False)
    starting = channel_directory(own_tmp, "starting", 5, bound=True)  # may listen any moment
    other = own_tmp / "flowplan-run-x"
    other.mkdir()
    os.utime(other, (0, 0))
    file = own_tmp / f"{reporter_server.PREFIX}file"
    file.write_text("")
    os.utime(file, (0, 0))
    server = ReporterServer(connect)
    request.addfinalizer(server.close)
    assert not killed.exists() and not unbound.exists()
    assert live.exists() and starting.exists() and other.exists() and file.exists()
    assert Path(server.path).parent.exists()  # its own, new
    # an hour on, the one starting never got further; the live ones (this one's too) serve on
    assert reporter_server.remove_stale_channels(time.time() + 3600) == [starting]
    deployment(backend, tmp_path)
    run = backend.create_flow_run("f/d")
    client = SocketReporter(serving.register(run))  # knocked on twice, it still answers
    request.addfinalizer(client.close)
    assert client.read_flow_run(run.id).id == run.id


def test_the_sweep_is_exact_about_age_owner_and_goes_past_what_it_cannot_reach(
    own_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory exactly `STALE_SECONDS` old is stale, a second younger is not; another
    user's is never touched; one whose socket path is too long to reach is left, and the
    sweep goes on past it."""
    then = 1_700_000_000
    edge = channel_directory(own_tmp, "edge", 0, bound=False)
    os.utime(edge, (then, then))
    unreachable = channel_directory(own_tmp, "x" * 100, 120, bound=False)  # path > 107 bytes
    killed = [channel_directory(own_tmp, f"killed{n}", 120, bound=True) for n in range(30)]
    with monkeypatch.context() as other_user:
        other_user.setattr(os, "getuid", lambda: os.geteuid() + 1)
        assert reporter_server.remove_stale_channels() == []
    assert reporter_server.remove_stale_channels(then + reporter_server.STALE_SECONDS - 1) == []
    assert reporter_server.remove_stale_channels(then + reporter_server.STALE_SECONDS) == [edge]
    assert sorted(reporter_server.remove_stale_channels()) == sorted(killed)
    assert unreachable.exists()


def test_a_channel_in_a_directory_with_a_space_is_reached(
    tmp_path: Path, backend: LocalBackend, monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    """TMPDIR may hold a space: the address is `unix:<path> <token>`, the token has none."""
    spaced = Path(tempfile.mkdtemp(prefix="flowplan test "))  # short: a socket path is
    request.addfinalizer(lambda: shutil.rmtree(spaced))  # at most 107 bytes
    monkeypatch.setattr(tempfile, "tempdir", str(spaced))
    server = ReporterServer(lambda: LocalBackend(tmp_path / "home" / "flowplan.db"))
    request.addfinalizer(server.close)
    assert server.path.startswith(str(spaced))
    deployment(backend, tmp_path)
    run = backend.create_flow_run("f/d")
    address = server.register(run)
    client = SocketReporter(address)
    request.addfinalizer(client.close)
    assert client.read_flow_run(run.id).id == run.id
    backend.set_flow_run_state(run.id, StateType.RUNNING)
    client.finish(run.id, StateType.COMPLETED)
    assert server.final_state(address) == "Completed"
    server.unregister(address)
    assert server.final_state(address) is None
    with pytest.raises(FlowplanError, match="unknown or expired reporting token"):
        client.read_flow_run(run.id)


def open_sockets() -> int:
    """The sockets open in this process (the test's and the worker's channel's)."""
    count = 0
    for descriptor in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):  # closed meanwhile
            count += str(descriptor.readlink()).startswith("socket:")
    return count


def test_the_worker_closes_its_end_of_a_channel_the_run_closed(
    tmp_path: Path, backend: LocalBackend, server: ReporterServer
) -> None:
    """A long-lived worker serves thousands of runs: no descriptor is left per run."""
    deployment(backend, tmp_path)
    run = backend.create_flow_run("f/d")
    before = open_sockets()
    for _ in range(10):
        client = SocketReporter(server.register(run))
        client.read_flow_run(run.id)
        client.close()
    # the channel's buffered stream keeps the run's own descriptor until it is collected
    del client
    gc.collect()
    wait_for("the worker to close its ends", lambda: open_sockets() <= before)


def test_a_channel_closed_before_its_thread_began_ends_it_quietly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker stopped as soon as it started: its channel's thread may begin only after
    `close()` (it printed a traceback)."""
    held: list[threading.Thread] = []
    start = threading.Thread.start

    class Held(threading.Thread):
        def start(self) -> None:
            held.append(self)  # started below, after close()

    monkeypatch.setattr(reporter_server.threading, "Thread", Held)  # its one thread
    failed: list[object] = []
    monkeypatch.setattr(threading, "excepthook", failed.append)
    server = ReporterServer(lambda: LocalBackend(tmp_path / "home" / "flowplan.db"))
    server.close()
    [thread] = held
    start(thread)
    thread.join(timeout=60)
    assert not thread.is_alive() and failed == []


class BrokenStderr:
    """The run's stderr once its worker, which read it, is gone."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("refused", [False, True], ids=["stopped", "group-gone"])
def test_a_run_whose_worker_went_is_stopped_even_when_it_cannot_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused: bool
) -> None:
    """The worker read the run's output: with it gone, printing fails; the run is stopped all
    the same, and a stop that fails (the group gone already) ends the channel's thread
    quietly."""
    stopped: list[tuple[int, int]] = []

    def killpg(group: int, sig: int) -> None:
        stopped.append((group, sig))
        if refused:
            raise ProcessLookupError(3, "No such process")

    monkeypatch.setattr(os, "killpg", killpg)
    monkeypatch.setattr(sys, "stderr", BrokenStderr())
    failed: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", failed.append)
    address, worker = listening_worker(tmp_path)
    client = SocketReporter(f"{address} token")
    worker_goes(worker, 2)
    wait_for("the run to be stopped", lambda: stopped)
    wait_for(
        "the channel's thread to end", lambda: client.helper_ident not in sys._current_frames()
    )
    assert (stopped, failed) == ([(os.getpgrp(), signal.SIGTERM)], [])
    client.close()


def test_the_store_serves_an_engine_started_by_hand(tmp_path: Path, backend: LocalBackend) -> None:
    """Without a channel the engine reports to the store: the same answers as the channel."""
    first = deployment(backend, tmp_path)
    reporter = StoreReporter(backend)
    run = backend.create_flow_run("f/d")
    assert reporter.read_flow_run(run.id).id == run.id
    assert reporter.read_deployment(first.id).id == first.id
    started, found = reporter.start(run.id)
    assert started.state.type is StateType.RUNNING and found is not None and found.id == first.id
    cancelling = backend.create_flow_run("f/d")
    backend.set_flow_run_state(cancelling.id, StateType.RUNNING)
    backend.cancel_flow_run(cancelling.id)
    started, found = reporter.start(cancelling.id)
    assert (started.state.type, found) == (StateType.CANCELLED, None)
    reporter.flow_call(run.id, 1.0)  # nobody enforces a timeout from outside: nothing to tell


@pytest.fixture
def wake_expected(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process as a run the fork server forked: its channel's thread waits for the wake."""
    monkeypatch.setattr(reporter, "_woken", False)
    monkeypatch.setattr(reporter, "_current", None)
    previous = signal.getsignal(reporter.WAKE_SIGNAL)
    reporter.expect_wake()
    try:
        yield
    finally:
        signal.signal(reporter.WAKE_SIGNAL, previous)


def test_a_forked_runs_channel_starts_its_thread_only_when_woken(
    tmp_path: Path, backend: LocalBackend, server: ReporterServer, wake_expected: None
) -> None:
    deployment(backend, tmp_path)
    run = backend.create_flow_run("f/d")
    client = SocketReporter(server.register(run))
    assert client.helper_ident is None  # a run that ends before the wake pays no thread
    ticks: list[int] = []
    client.every(3600, lambda: ticks.append(1))
    assert client.read_flow_run(run.id).id == run.id  # the channel itself works meanwhile
    os.kill(os.getpid(), reporter.WAKE_SIGNAL)  # the fork server: "still going"
    first = wait_for("the channel's thread", lambda: client.helper_ident)
    wait_for("the channel's thread to run", lambda: first in sys._current_frames())
    wait_for("the flush that was due", lambda: ticks)  # at once, not an interval later
    os.kill(os.getpid(), reporter.WAKE_SIGNAL)  # a second wake starts no second thread
    assert client.read_flow_run(run.id).id == run.id  # (the handler has run by now)
    assert client.helper_ident == first
    client.close()
    wait_for("the channel's thread to end", lambda: first not in sys._current_frames())


def test_a_wake_before_the_channel_opens_starts_its_thread_with_it(
    tmp_path: Path, backend: LocalBackend, server: ReporterServer, wake_expected: None
) -> None:
    deployment(backend, tmp_path)
    run = backend.create_flow_run("f/d")
    os.kill(os.getpid(), reporter.WAKE_SIGNAL)
    assert reporter._woken
    client = SocketReporter(server.register(run))
    assert client.helper_ident is not None
    client.close()


def test_a_run_woken_after_its_worker_went_is_stopped(
    tmp_path: Path, stops: list[tuple[int, int]], wake_expected: None
) -> None:
    address, worker = listening_worker(tmp_path)
    client = SocketReporter(f"{address} token")
    worker_goes(worker, 1)  # gone before the wake: the thread cannot even connect
    os.kill(os.getpid(), reporter.WAKE_SIGNAL)
    wait_for("the run to be stopped", lambda: stops)
    assert stops == [(os.getpgrp(), signal.SIGTERM)]
    client.close()
