"""One `docker` run's container, once started: its log stream, its end, stopping it.

The log stream follows the container while it runs. An engine can miss the end of a container
that ends just as its stream opens (podman's stream then never ends): a stream still open
`STALL_SECONDS` after the container ended is closed, and the lines it had not given yet are
read from the container's logs as they stand. A stream opened after the end does not follow."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from flowplan.runtime.infrastructure import Exit

STALL_SECONDS = 2.0  # how long a log stream may go on after its container ended


class ContainerHandle:
    """One run's container: its log stream, its end (one waiter thread), stopping it."""

    def __init__(self, client: Any, stream_client: Any, container: Any, remove: bool) -> None:
        self._client, self._stream_client = client, stream_client
        self.container = container
        self.name = str(container.name)
        self._remove = remove
        self._exit: Exit | None = None
        self._done = threading.Event()
        self._stream: Any = None
        self._lock = threading.Lock()
        self._released = False
        self._stream_ended = threading.Event()
        self._cut = False  # the stream was closed as stalled: the rest is read without it
        threading.Thread(target=self._wait, name=f"flowplan-container {self.name}",
                         daemon=True).start()  # fmt: skip

    @property
    def id(self) -> str:
        return f"container {self.name} ({str(self.container.id)[:12]})"

    def lines(self) -> Iterator[str]:
        import docker.errors

        with self._lock:
            if self._released:
                return
            try:
                self._stream = self._stream_client.logs(
                    self.container.id, stream=True, follow=not self._done.is_set(),
                    stdout=True, stderr=True,
                )  # fmt: skip
            except (docker.errors.DockerException, OSError):
                return
            stream = self._stream
        buffer, given = b"", 0
        with contextlib.suppress(Exception):  # closed by release(), or the engine went away
            for chunk in stream:
                *complete, buffer = (buffer + chunk).split(b"\n")
                for line in complete:
                    given += 1
                    yield _text(line)
        self._stream_ended.set()
        if self._cut:
            buffer = b""
            with contextlib.suppress(Exception):
                *complete, buffer = self._stream_client.logs(
                    self.container.id, stream=False, follow=False, stdout=True, stderr=True
                ).split(b"\n")  # fmt: skip
                for line in complete[given:]:
                    yield _text(line)
        if buffer:
            yield _text(buffer)

    def _cut_a_stalled_stream(self) -> None:
        """The container ended: a stream that has not ended `STALL_SECONDS` later never will
        (one opened from now on does not follow)."""
        with self._lock:
            if self._stream is None:
                return
        if self._stream_ended.wait(STALL_SECONDS):
            return
        with self._lock:
            stream = None if self._released else self._stream
            self._cut = stream is not None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()

    def _wait(self) -> None:
        import docker.errors
        import requests.exceptions

        failures = 0
        while True:
            try:
                result = self._stream_client.wait(self.container.id)
                code = int(result.get("StatusCode", -1))
                break
            except requests.exceptions.ReadTimeout:
                continue
            except docker.errors.NotFound:
                self._finish(Exit(-1, f"Container {self.name!r} was removed before it ended"))
                return
            except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
                failures += 1
                if failures >= 3:
                    reason = f"Lost the Docker engine while container {self.name!r} ran: {exc}"
                    self._finish(Exit(-1, reason))
                    return
                self._done.wait(1.0)
        self._finish(Exit(code, None if code == 0 else self._describe(code)))
        self._cut_a_stalled_stream()

    def _describe(self, code: int) -> str:
        reason = f"Container {self.name!r} exited with status code {code}"
        with contextlib.suppress(Exception):
            state = self._client.api.inspect_container(self.container.id)["State"]
            if state.get("OOMKilled"):
                return reason + " (killed: out of memory, see job variable mem_limit)"
        if code > 128:
            with contextlib.suppress(ValueError):
                import signal

                reason += f" (killed by {signal.Signals(code - 128).name})"
        return reason

    def _finish(self, exit: Exit) -> None:
        if exit.code == 0 and exit.reason is None:
            exit = Exit(0, f"Container {self.name!r} exited with status code 0 before"
                           " reporting a final state")  # fmt: skip
        self._exit = exit
        self._done.set()

    def wait(self, timeout: float | None = None) -> Exit | None:
        return self._exit if self._done.wait(timeout) else None

    def terminate(self, grace: float) -> None:
        with contextlib.suppress(Exception):  # gone already: nothing to stop
            self._stream_client.stop(self.container.id, timeout=max(round(grace), 0))

    def end_leftovers(self, grace: float) -> None:
        """Nothing outlives a container's first process: the engine ends them all with it."""

    def leftovers(self) -> bool:
        return False  # see end_leftovers

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self._client.api.kill(self.container.id)

    def release(self) -> None:
        with self._lock:
            self._released = True
            stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()
        if self._done.is_set():
            if self._remove:
                with contextlib.suppress(Exception):
                    self._client.api.remove_container(self.container.id, force=True)
            with contextlib.suppress(Exception):
                self._stream_client.close()


def _text(line: bytes) -> str:
    return line.decode("utf-8", errors="replace").rstrip("\r")
