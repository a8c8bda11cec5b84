"""The `process` worker type and its fork server in this process: what a run is started with,
its output and exit, stopping it with a grace period, what it leaves behind, and a fork
server that must not fork."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowplan.domain.job_config import WorkPoolJobConfiguration
from flowplan.domain.objects import FlowRun, StateType
from flowplan.errors import UsageError
from flowplan.runtime.forkserver import ForkRefused, ForkServer
from flowplan.runtime.infrastructure import Exit, RunHandle, infrastructure, worker_hint
from flowplan.runtime.infrastructure.docker import DockerInfrastructure
from flowplan.runtime.infrastructure.pipes import Pipe
from flowplan.runtime.infrastructure.process import ProcessHandle, ProcessInfrastructure
from tests.integration.workers import wait_for
from tests.runtime.helpers import deployment, store


@pytest.fixture
def run(tmp_path: Path) -> FlowRun:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path)
    return backend.create_flow_run("f/d")


@pytest.fixture
def process() -> Iterator[ProcessInfrastructure]:
    infra = ProcessInfrastructure()
    yield infra
    infra.close()


LAUNCHED: list[RunHandle] = []


@pytest.fixture(autouse=True)
def _no_run_left_running() -> Iterator[None]:
    """A test that fails half-way (as under `make mutation`, where most do) must not leave its
    run's process group running: one whose leader still runs is killed."""
    yield
    while LAUNCHED:
        handle = LAUNCHED.pop()
        if handle.wait(0) is None:
            handle.kill()
            handle.wait(10)


def while_testing() -> str:
    """A loop in a run's script: until the test's process is gone (a test stopped half-way, as
    by mutmut's timeout, leaves no run behind). Read when the test runs: mutmut forks one
    process per mutant from the one that imported this module."""
    return f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 0.05; done"


def launch(infra: ProcessInfrastructure, run: FlowRun, script: str, **job: Any) -> RunHandle:
    config = WorkPoolJobConfiguration(command=f"sh -c '{script}'", **job)
    handle = infra.launch(run, config, infra.environment(run, config))
    LAUNCHED.append(handle)
    return handle


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"


def test_the_registry_names_what_is_available() -> None:
    assert isinstance(infrastructure("process"), ProcessInfrastructure)
    assert isinstance(infrastructure("docker"), DockerInfrastructure)
    with pytest.raises(
        UsageError,
        match=r"worker type 'kubernetes' is not available \(available: docker, process\)",
    ):
        infrastructure("kubernetes")


def test_a_run_gets_the_workers_environment_then_the_jobs(
    process: ProcessInfrastructure, run: FlowRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEPT", "1")
    monkeypatch.setenv("DROPPED", "1")
    config = WorkPoolJobConfiguration(env={"EXTRA": "x", "DROPPED": None, "KEPT": "2"})
    env = process.environment(run, config)
    assert env["EXTRA"] == "x" and env["KEPT"] == "2" and "DROPPED" not in env
    assert env["FLOWPLAN_FLOW_RUN_ID"] == env["PREFECT__FLOW_RUN_ID"] == run.id
    assert env["PATH"] == os.environ["PATH"]


def test_output_and_exit_of_a_run(process: ProcessInfrastructure, run: FlowRun) -> None:
    handle = launch(process, run, "echo one; echo two >&2; printf three; exit 4")
    assert list(handle.lines()) == ["one", "two", "three"]
    assert handle.wait() == Exit(4)
    assert handle.id.startswith("process ")
    handle.release()


def test_terminate_lets_the_run_clean_up_within_the_grace_period(
    process: ProcessInfrastructure, run: FlowRun
) -> None:
    handle = launch(process, run, f'trap "echo bye; exit 3" TERM; echo ready; {while_testing()}')
    lines = handle.lines()
    assert next(lines) == "ready"
    handle.terminate(grace=60)
    assert handle.wait() == Exit(3)
    assert "bye" in list(lines)  # (sh may also say its sleep was terminated)
    handle.release()


def test_terminate_kills_a_run_that_ignores_sigterm_after_the_grace_period(
    process: ProcessInfrastructure, run: FlowRun
) -> None:
    handle = launch(process, run, f'trap "" TERM; echo ready; {while_testing()}')
    assert next(handle.lines()) == "ready"
    handle.terminate(grace=0.2)
    exit = handle.wait()
    assert exit == Exit(-9) and exit.describe() == "Process was killed by signal SIGKILL"
    handle.release()


def test_leftovers_are_ended_after_the_run_exits(
    process: ProcessInfrastructure, run: FlowRun
) -> None:
    handle = launch(process, run, f"({while_testing()}) & echo $!")
    leftover = int(next(handle.lines()))
    assert handle.wait() == Exit(0)
    assert alive(leftover) and handle.leftovers()
    handle.end_leftovers(grace=60)
    assert not alive(leftover) and not handle.leftovers()
    handle.release()


def test_closing_a_pipe_wakes_its_reader_while_a_writer_holds_it() -> None:
    read_end, write_end = os.pipe()
    pipe = Pipe(read_end)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(pipe.lines()))
    reader.start()
    os.write(write_end, b"held\n")
    wait_for("the line", lambda: lines)
    pipe.close()
    reader.join(timeout=60)
    assert not reader.is_alive() and lines == ["held"]
    os.close(write_end)


THREADED = (
    "import sys, threading, time\n"
    "threading.Thread(target=time.sleep, args=(600,), daemon=True).start()\n"
    "from flowplan.runtime.forkserver import serve\n"
    "serve(int(sys.argv[1]))\n"
)


def test_a_fork_server_with_threads_running_refuses_to_fork(tmp_path: Path) -> None:
    server = ForkServer([sys.executable, "-c", THREADED])
    try:
        with pytest.raises(ForkRefused, match=r"1 other thread\(s\) are running"):
            server.fork("some-run", dict(os.environ), str(tmp_path))
    finally:
        server.close()


def test_the_next_step_names_a_worker_that_can_serve_the_pool() -> None:
    assert (
        worker_hint("p", "process")
        == "Start a worker for it with: flowplan worker start --pool 'p'"
    )
    assert worker_hint("p", "process", embedded=False) == (
        "Start a worker for it with: prefect worker start --pool 'p'"
    )
    assert worker_hint("p", "kubernetes").startswith("flowplan has no 'kubernetes' worker yet")


def test_runs_start_as_new_interpreters_when_the_fork_server_refuses(
    tmp_path: Path, run: FlowRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWPLAN_HOME", str(tmp_path / "home"))
    said: list[str] = []
    infra = ProcessInfrastructure()
    infra.say = said.append
    infra._server = ForkServer([sys.executable, "-c", THREADED])
    try:
        config = WorkPoolJobConfiguration()
        handle = infra.launch(run, config, infra.environment(run, config))
        assert "n=1" in list(handle.lines())
        assert handle.wait() == Exit(0)
        handle.release()
    finally:
        infra.close()
    assert store(tmp_path / "home").read_flow_run(run.id).state.type is StateType.COMPLETED
    assert said == [
        "The fork server cannot fork (1 other thread(s) are running (Thread-1 (sleep))): runs"
        " start as new interpreters, which is slower."
    ]


def test_a_leftover_that_ignores_sigterm_is_killed_after_the_grace_period(
    process: ProcessInfrastructure, run: FlowRun
) -> None:
    handle = launch(process, run, f'(trap "" TERM; {while_testing()}) & echo $!')
    leftover = int(next(handle.lines()))
    assert handle.wait() == Exit(0)
    handle.end_leftovers(grace=0.2)
    wait_for("the leftover killed", lambda: not alive(leftover) and not handle.leftovers())
    handle.end_leftovers(grace=0.2)  # nothing left: nothing to do
    handle.release()


CLEANS_UP = """
import os, signal, sys, time
def stop(signum, frame):
    open(sys.argv[2], "w").close()
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
while os.path.exists(f"/proc/{sys.argv[1]}"):
    time.sleep(0.05)
"""


def test_a_leftover_gets_its_grace_period_to_clean_up(
    process: ProcessInfrastructure, run: FlowRun, tmp_path: Path
) -> None:
    marker, script = tmp_path / "cleaned", tmp_path / "cleans_up.py"
    script.write_text(CLEANS_UP)
    handle = launch(process, run, f"{sys.executable} {script} {os.getpid()} {marker} &")
    assert next(handle.lines()) == "ready"
    assert handle.wait() == Exit(0)
    handle.end_leftovers(grace=60)
    assert marker.exists() and not handle.leftovers()
    handle.release()


def test_a_run_without_leftovers_has_none(process: ProcessInfrastructure, run: FlowRun) -> None:
    handle = launch(process, run, "exit 0")
    assert handle.wait() == Exit(0)
    assert not handle.leftovers()
    handle.release()


def test_how_a_run_ended_is_described() -> None:
    assert Exit(4).describe() == "Process exited with status code 4"
    assert Exit(-15).describe() == "Process was killed by signal SIGTERM"
    assert Exit(-99).describe() == "Process was killed by signal 99"
    assert Exit(-9, "its fork server died").describe() == "its fork server died"


def test_a_pool_type_without_a_worker_names_the_types_there_are() -> None:
    assert worker_hint("p", "kubernetes") == (
        "flowplan has no 'kubernetes' worker yet (worker types: docker, process): runs in pool"
        " 'p' wait until a worker of type 'kubernetes' polls it."
    )


def test_a_run_starts_in_a_temporary_directory_removed_when_released(
    process: ProcessInfrastructure, run: FlowRun
) -> None:
    handle = launch(process, run, "pwd")
    (where,) = handle.lines()
    assert handle.wait() == Exit(0)
    assert Path(where).parent == Path(tempfile.gettempdir()).resolve()
    assert Path(where).name.startswith("flowplan-run-") and Path(where).is_dir()
    handle.release()
    assert not Path(where).exists()
    handle.release()  # twice: nothing more to do


def test_a_run_starts_in_its_working_dir_which_is_kept(
    process: ProcessInfrastructure, run: FlowRun, tmp_path: Path
) -> None:
    handle = launch(process, run, "pwd; echo $EXTRA", working_dir=str(tmp_path), env={"EXTRA": "x"})
    assert list(handle.lines()) == [str(tmp_path), "x"]
    handle.wait()
    assert isinstance(handle, ProcessHandle) and handle.temporary is None  # none made
    handle.release()
    assert tmp_path.is_dir()


def test_a_run_that_removed_its_own_directory_is_released(
    process: ProcessInfrastructure, run: FlowRun
) -> None:
    handle = launch(process, run, 'pwd; rmdir "$PWD"')
    (where,) = handle.lines()
    assert handle.wait() == Exit(0) and not Path(where).exists()
    handle.release()


def test_a_run_gets_its_environment_and_no_input(
    process: ProcessInfrastructure, run: FlowRun
) -> None:
    config = WorkPoolJobConfiguration(command="sh -c 'echo $EXTRA; readlink /proc/self/fd/0'")
    # this process's own input is a pipe: the run's is still /dev/null
    saved, (read_end, write_end) = os.dup(0), os.pipe()
    os.dup2(read_end, 0)
    try:
        handle = process.launch(run, config, {"EXTRA": "x", "PATH": os.environ["PATH"]})
    finally:
        os.dup2(saved, 0)
        for fd in (saved, read_end, write_end):
            os.close(fd)
    LAUNCHED.append(handle)
    assert list(handle.lines()) == ["x", os.devnull]
    assert handle.wait() == Exit(0)
    handle.release()


def test_a_command_that_cannot_start_raises_and_leaves_no_descriptor_or_directory(
    process: ProcessInfrastructure, run: FlowRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    before = set(Path("/proc/self/fd").iterdir())
    config = WorkPoolJobConfiguration(command="/nonexistent/program")
    with pytest.raises(FileNotFoundError):
        process.launch(run, config, process.environment(run, config))
    assert set(Path("/proc/self/fd").iterdir()) <= before
    assert list((tmp_path / "tmp").iterdir()) == []  # its temporary directory is gone too


WHERE = """
import os
from flowplan import flow

@flow
def f():
    print(f"parent={os.getppid()} pid={os.getpid()}")
"""


@pytest.fixture
def where_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FlowRun:
    """A run of a flow that prints its parent process and its own."""
    monkeypatch.setenv("FLOWPLAN_HOME", str(tmp_path / "home"))
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, source=WHERE)
    return backend.create_flow_run("f/d")


def run_where(infra: ProcessInfrastructure, run: FlowRun, **job: Any) -> int:
    """The run's parent process (checking that the handle is named by the run's process)."""
    config = WorkPoolJobConfiguration(**job)
    handle = infra.launch(run, config, infra.environment(run, config))
    LAUNCHED.append(handle)
    (line,) = [line for line in handle.lines() if line.startswith("parent=")]
    assert handle.wait() == Exit(0)
    handle.release()
    parent, _, pid = line.removeprefix("parent=").partition(" pid=")
    assert handle.id == f"process {pid}"
    return int(parent)


ENVIRONMENT = """
import os
from flowplan import flow

@flow
def f():
    print(f"late={os.environ.get('LATE')} gone={os.environ.get('GONE')} job={os.environ['JOB']}")
"""


def test_a_forked_run_gets_its_environment_though_the_worker_changed_since_the_server_began(
    process: ProcessInfrastructure, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fork server keeps the environment it was started with; a run's order carries the
    differences from that one, not from the worker's environment of the moment."""
    monkeypatch.setenv("FLOWPLAN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GONE", "1")
    monkeypatch.delenv("LATE", raising=False)
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, source=ENVIRONMENT)
    run = backend.create_flow_run("f/d")
    process.prepare(lambda text: None)  # the server starts with GONE and without LATE
    monkeypatch.setenv("LATE", "2")
    monkeypatch.delenv("GONE")
    config = WorkPoolJobConfiguration(env={"JOB": "3"})
    handle = process.launch(run, config, process.environment(run, config))
    LAUNCHED.append(handle)
    assert "late=2 gone=None job=3" in list(handle.lines())
    assert handle.wait() == Exit(0)
    handle.release()
    assert process.refused == ""  # forked, not started as a new interpreter


def test_a_run_is_forked_from_the_fork_server_in_its_working_dir(
    process: ProcessInfrastructure, where_run: FlowRun, tmp_path: Path
) -> None:
    said: list[str] = []
    process.prepare(said.append)
    assert process._server is not None
    server = process._server.process.pid
    parent = run_where(process, where_run, working_dir=str(tmp_path / "flows"))
    assert parent == server and said == []
    assert (tmp_path / "flows").is_dir()


def test_a_forked_run_starts_in_a_temporary_directory_removed_when_released(
    process: ProcessInfrastructure, where_run: FlowRun
) -> None:
    config = WorkPoolJobConfiguration()
    handle = process.launch(where_run, config, process.environment(where_run, config))
    LAUNCHED.append(handle)
    assert isinstance(handle, ProcessHandle) and handle.temporary is not None
    created = Path(handle.temporary)
    assert created.name.startswith("flowplan-run-") and created.is_dir()
    assert any(line.startswith("parent=") for line in handle.lines())
    assert handle.wait() == Exit(0)
    handle.release()
    assert not created.exists()


def test_a_run_with_python_variables_starts_as_a_new_interpreter(
    process: ProcessInfrastructure, where_run: FlowRun
) -> None:
    parent = run_where(process, where_run, env={"PYTHONDONTWRITEBYTECODE": "1"})
    assert parent == os.getpid()


def test_a_dead_fork_server_is_said_and_replaced(
    process: ProcessInfrastructure, where_run: FlowRun
) -> None:
    said: list[str] = []
    process.prepare(said.append)
    first = process._server
    assert first is not None
    first.process.kill()
    wait_for("the death said", lambda: said)
    assert said == [
        "The fork server died (process was killed by signal sigkill): its runs are marked"
        " crashed; starting a new one."
    ]
    assert process._server is not first and process._server is not None
    assert process._server.alive
    parent = run_where(process, where_run)
    assert parent == process._server.process.pid


def test_a_death_heard_after_closing_starts_no_server(process: ProcessInfrastructure) -> None:
    said: list[str] = []
    process.prepare(said.append)
    server = process._server
    assert server is not None
    process.close()
    server._on_death("the worker's fork server died (process exited with status code 1); x")
    assert said == [] and process._server is None


def test_a_refused_fork_is_said_once_with_its_reason(
    tmp_path: Path, run: FlowRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWPLAN_HOME", str(tmp_path / "home"))
    infra = ProcessInfrastructure()  # nobody said where to say it: nothing is said
    infra._server = ForkServer([sys.executable, "-c", THREADED])
    try:
        config = WorkPoolJobConfiguration()
        for each in (run, store(tmp_path / "home").create_flow_run("f/d")):
            handle = infra.launch(each, config, infra.environment(each, config))
            LAUNCHED.append(handle)
            assert "n=1" in list(handle.lines()) and handle.wait() == Exit(0)
            handle.release()
            assert infra.refused == "1 other thread(s) are running (Thread-1 (sleep))"
        said: list[str] = []
        infra.say = said.append
        third = store(tmp_path / "home").create_flow_run("f/d")
        handle = infra.launch(third, config, infra.environment(third, config))
        LAUNCHED.append(handle)
        list(handle.lines())
        handle.wait()
        handle.release()
        assert said == []  # said once already
    finally:
        infra.close()


def test_closing_a_pipe_before_reading_it_closes_it() -> None:
    read_end, write_end = os.pipe()
    pipe = Pipe(read_end)
    pipe.close()
    assert list(pipe.lines()) == []
    with pytest.raises(OSError):
        os.fstat(read_end)
    os.close(write_end)
    pipe.close()  # twice: nothing more


def test_a_pipe_read_to_its_end_closes_it_and_never_touches_its_numbers_again() -> None:
    read_end, write_end = os.pipe()
    pipe = Pipe(read_end)
    os.write(write_end, b"one\n\xff two\nrest")
    os.close(write_end)
    assert list(pipe.lines()) == ["one", "\ufffd two", "rest"]
    numbers = (pipe.fd, pipe._wake_read, pipe._wake_write)
    for number in numbers:
        with pytest.raises(OSError):
            os.fstat(number)
    # the numbers are reused by new descriptors: closing the pipe again leaves them alone
    new_read, new_write = os.pipe()
    for number in numbers:
        os.dup2(new_read if number != pipe._wake_write else new_write, number)
    try:
        pipe.close()
        os.write(new_write, b"mine")
        os.set_blocking(new_read, False)
        assert os.read(new_read, 100) == b"mine"
        for number in numbers:
            os.fstat(number)
    finally:
        for number in {*numbers, new_read, new_write}:
            os.close(number)


def test_closing_a_pipe_its_reader_waits_on_ends_the_reader_cleanly() -> None:
    read_end, write_end = os.pipe()
    pipe = Pipe(read_end)
    lines: list[str] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            lines.extend(pipe.lines())
        except BaseException as exc:
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    os.write(write_end, b"held\npart")
    wait_for("the line", lambda: lines)
    pipe.close()
    reader.join(timeout=60)
    assert not reader.is_alive() and errors == []
    assert lines == ["held", "part"]  # what was read of an unfinished line too
    os.close(write_end)


HOLDS_SIGHUP = """
import os, signal, sys, time
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
print(os.getpid(), flush=True)
while os.path.exists(f"/proc/{sys.argv[1]}"):
    time.sleep(0.05)
"""


def pending(pid: int) -> int:
    """The signals sent to a process and not yet delivered (it blocks them), as a bit mask."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    masks = [line.split()[1] for line in status if line.startswith(("SigPnd:", "ShdPnd:"))]
    return int(masks[0], 16) | int(masks[1], 16)


def test_looking_for_leftovers_sends_them_no_signal(
    process: ProcessInfrastructure, run: FlowRun, tmp_path: Path
) -> None:
    script = tmp_path / "holds.py"
    script.write_text(HOLDS_SIGHUP)
    handle = launch(process, run, f"{sys.executable} {script} {os.getpid()} &")
    leftover = int(next(handle.lines()))
    assert handle.wait() == Exit(0)
    assert handle.leftovers() and pending(leftover) == 0  # (a signal sent is pending at once)
    handle.end_leftovers(grace=60)
    handle.release()
