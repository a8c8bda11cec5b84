"""A docker run's container as its worker follows it (`ContainerHandle`), against an engine
that this test plays: what podman never does here (an engine that fails for a moment, a
container killed for its memory, an engine that cannot say how a container ended, calls that
fail while a run is released). The container's real output and end are tested against podman
in test_docker_inprocess.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import docker.errors
import pytest
import requests.exceptions

from flowplan.runtime.infrastructure import Exit, docker_container
from flowplan.runtime.infrastructure.docker_container import ContainerHandle


class Container:
    name, id = "c1", "0123456789abcdef"


class Engine:
    """Both of a handle's clients: `api` (inspect, kill, remove) and the stream client (wait,
    logs, stop, close). `ends`: what each call to `wait` does in turn (an exception to raise,
    the status code to answer, or the whole answer)."""

    def __init__(self, *ends: Any, state: Any = None) -> None:
        self.api = self
        self._ends = list(ends)
        self.state = state if state is not None else {"OOMKilled": False}
        self.calls: list[tuple[str, Any]] = []
        self.go = threading.Event()  # a wait with nothing left to answer waits for this
        self.fail: set[str] = set()  # the calls that raise
        self.stream: Any = [b"a\n"]  # what `logs` gives

    def _call(self, name: str, value: Any = None) -> None:
        self.calls.append((name, value))
        if name in self.fail:
            raise docker.errors.APIError(f"{name} failed")

    def wait(self, container_id: str) -> dict[str, int]:
        if not self._ends:
            self.go.wait()
            return {"StatusCode": 0}
        end = self._ends.pop(0)
        if isinstance(end, BaseException):
            raise end
        return end if isinstance(end, dict) else {"StatusCode": end}

    def inspect_container(self, container_id: str) -> dict[str, Any]:
        self._call("inspect", container_id)
        return {"State": self.state}

    def logs(self, container_id: str, **options: Any) -> Any:
        self._call("logs", options)
        return self.stream

    def stop(self, container_id: str, timeout: int) -> None:
        self._call("stop", timeout)

    def kill(self, container_id: str) -> None:
        self._call("kill", container_id)

    def remove_container(self, container_id: str, force: bool) -> None:
        self._call("remove", force)

    def close(self) -> None:
        self._call("close")


def handle(engine: Engine, remove: bool = True) -> ContainerHandle:
    return ContainerHandle(engine, engine, Container(), remove)


def test_the_end_is_waited_for_on_a_daemon_thread_named_after_the_container() -> None:
    engine = Engine()  # the container runs until the test lets it end
    followed = handle(engine)
    try:
        (waiter,) = [t for t in threading.enumerate() if t.name == "flowplan-container c1"]
        assert waiter.daemon  # a worker's exit never waits for a container's end
        assert followed.wait(0.05) is None
    finally:
        engine.go.set()
    assert followed.wait(10) is not None
    assert followed.id == "container c1 (0123456789ab)"


def test_an_engine_that_fails_twice_is_still_waited_for() -> None:
    failure = requests.exceptions.ConnectionError("refused")
    engine = Engine(failure, docker.errors.APIError("busy"), 0)
    assert handle(engine).wait(10) == Exit(
        0, "Container 'c1' exited with status code 0 before reporting a final state"
    )


def test_a_third_failure_of_the_engine_ends_the_wait_saying_so() -> None:
    engine = Engine(*[requests.exceptions.ConnectionError("refused")] * 3, 0)
    assert handle(engine).wait(10) == Exit(
        -1, "Lost the Docker engine while container 'c1' ran: refused"
    )


def test_a_wait_that_timed_out_is_waited_again_without_counting_as_a_failure() -> None:
    engine = Engine(*[requests.exceptions.ReadTimeout("long run")] * 4, 5)
    assert handle(engine).wait(10) == Exit(5, "Container 'c1' exited with status code 5")


def test_an_answer_without_a_status_code_is_an_end_with_code_minus_one() -> None:
    engine = Engine({})
    assert handle(engine).wait(10) == Exit(-1, "Container 'c1' exited with status code -1")


def test_output_whose_stream_breaks_ends_quietly_with_the_lines_so_far() -> None:
    def broken() -> Iterator[bytes]:
        yield b"first\nsecond, cut"
        raise requests.exceptions.ChunkedEncodingError("the engine went away")

    engine = Engine(0)
    engine.stream = broken()
    assert list(handle(engine).lines()) == ["first", "second, cut"]


def test_a_terminals_line_ends_are_dropped_from_every_line_the_last_one_too() -> None:
    engine = Engine(0)
    engine.stream = [b"first\r\nsecond\r", b"\nlast, unended\r"]  # a container with a tty
    assert list(handle(engine).lines()) == ["first", "second", "last, unended"]


def test_a_container_killed_for_its_memory_is_said() -> None:
    engine = Engine(137, state={"OOMKilled": True})
    assert handle(engine).wait(10) == Exit(
        137,
        "Container 'c1' exited with status code 137 (killed: out of memory, see job variable"
        " mem_limit)",
    )
    assert engine.calls == [("inspect", "0123456789abcdef")]


@pytest.mark.parametrize(
    ("code", "reason"),
    [(129, " (killed by SIGHUP)"), (137, " (killed by SIGKILL)"), (128, ""), (127, "")],
)
def test_an_end_the_engine_cannot_describe_is_said_from_its_code(code: int, reason: str) -> None:
    engine = Engine(code)
    engine.fail.add("inspect")
    assert handle(engine).wait(10) == Exit(
        code, f"Container 'c1' exited with status code {code}{reason}"
    )


def test_terminate_gives_the_grace_period_in_whole_seconds_and_never_raises() -> None:
    engine = Engine(0)
    followed = handle(engine)
    for grace in (0.0, 0.4, 2.6):
        followed.terminate(grace)
    engine.fail.add("stop")
    followed.terminate(30.0)  # the container is gone already: nothing to stop
    assert engine.calls == [("stop", 0), ("stop", 0), ("stop", 3), ("stop", 30)]


def test_release_goes_on_when_the_stream_or_the_removal_fails() -> None:
    class Stream:
        def __iter__(self) -> Iterator[bytes]:
            return iter([b"a\n"])

        def close(self) -> None:
            raise requests.exceptions.ConnectionError("gone")

    engine = Engine(0)
    engine.stream = Stream()
    followed = handle(engine)
    assert followed.wait(10) is not None
    assert list(followed.lines()) == ["a"]
    engine.fail.update({"remove", "close"})
    followed.release()  # raises nothing
    assert [name for name, _ in engine.calls] == ["logs", "remove", "close"]
    assert engine.calls[1] == ("remove", True)


class Stalling(Engine):
    """An engine whose log stream misses the end of the container (as podman's can, for a
    container that ends just as its stream opens): it gives what came, then nothing until it
    is closed. Its logs read without following are whole."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = threading.Event()

    def logs(self, container_id: str, **options: Any) -> Any:
        self._call("logs", (container_id, options))
        return self if options["follow"] else b"first\nsecond\nthird line\nfourth"

    def __iter__(self) -> Iterator[bytes]:  # the stream
        yield b"first\nsecond\nthird l"
        self.closed.wait(10)
        raise requests.exceptions.ConnectionError("closed")

    def close(self) -> None:  # the stream's (the engine's own `close` is not called here)
        self.closed.set()


def waiter_ended() -> None:
    """The handle's waiter thread (which also cuts a stalled stream) has ended."""
    for thread in threading.enumerate():
        if thread.name == "flowplan-container c1":
            thread.join(10)


@pytest.fixture
def short_stall(monkeypatch: pytest.MonkeyPatch) -> None:
    """A log stream is taken for stalled 0.1 s after its container ended (2 s in a worker)."""
    monkeypatch.setattr(docker_container, "STALL_SECONDS", 0.1)


@pytest.mark.usefixtures("short_stall")
def test_a_stream_that_misses_its_containers_end_is_cut_and_the_rest_read_from_the_logs() -> None:
    engine = Stalling()
    followed = handle(engine)
    lines = followed.lines()
    assert next(lines) == "first"  # the container runs: its stream follows it
    engine.go.set()  # the container ends; its stream never says so
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.extend(lines), daemon=True)
    reader.start()
    reader.join(10)
    assert engine.closed.is_set()  # the stalled stream was closed, not left to time out
    assert got == ["second", "third line", "fourth"]  # the cut line is read whole
    options = {"stdout": True, "stderr": True}
    assert [call for call in engine.calls if call[0] == "logs"] == [
        ("logs", (Container.id, {"stream": True, "follow": True, **options})),
        ("logs", (Container.id, {"stream": False, "follow": False, **options})),
    ]  # fmt: skip


def test_a_stream_opened_after_the_container_ended_does_not_follow_it() -> None:
    engine = Engine(0)
    followed = handle(engine)
    assert followed.wait(10) is not None
    assert list(followed.lines()) == ["a"]
    assert engine.calls == [("logs", {"stream": True, "follow": False, "stdout": True,
                                      "stderr": True})]  # fmt: skip


@pytest.mark.usefixtures("short_stall")
def test_a_stream_that_ended_with_its_container_is_neither_cut_nor_read_again() -> None:
    engine = Engine()
    followed = handle(engine)
    assert list(followed.lines()) == ["a"]  # followed while it ran, and ended
    engine.go.set()
    assert followed.wait(10) is not None
    waiter_ended()
    assert engine.calls == [("logs", {"stream": True, "follow": True, "stdout": True,
                                      "stderr": True})]  # fmt: skip
