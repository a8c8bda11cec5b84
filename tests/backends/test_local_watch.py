"""Waiting for the local store to change: a committed write transaction, from this process or
another, wakes a `StoreWatch` (inotify on the store file, which each commit touches); reads and
rolled-back writes do not; a burst of commits is one wake; `wake` ends a wait."""

from __future__ import annotations

import contextlib
import gc
import os
import resource
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.backends.local.watch import StoreWatch, open_watch

BOUND = 30.0  # what a wait that should end at once may take before the test fails


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    backend = LocalBackend(tmp_path / "flowplan.db")
    backend.set_variable("opened", 1)  # the file exists: there is something to watch
    return backend


@pytest.fixture
def watch(backend: LocalBackend) -> Iterator[StoreWatch]:
    watch = backend.watch_changes()
    assert watch is not None, "inotify is missing on this machine"
    yield watch
    watch.close()


def test_a_commit_in_another_process_wakes_the_wait_under_way(
    backend: LocalBackend, watch: StoreWatch
) -> None:
    answers: list[bool] = []
    waiting = threading.Thread(target=lambda: answers.append(watch.wait(BOUND)))
    waiting.start()
    code = "import sys; from pathlib import Path; from flowplan.backends.local import LocalBackend;"
    code += " LocalBackend(Path(sys.argv[1])).set_variable('from_another_process', 2)"
    subprocess.run([sys.executable, "-c", code, str(backend.store.path)], check=True)
    waiting.join(BOUND)
    assert answers == [True]
    assert watch.wait(0) is False  # told once


def test_reads_do_not_wake_it_and_a_burst_of_commits_wakes_it_once(
    backend: LocalBackend, watch: StoreWatch
) -> None:
    backend.read_variables()
    backend.read_variable("opened")
    assert watch.wait(0) is False
    for n in range(5):
        backend.set_variable(f"v{n}", n)
    assert watch.wait(0) is True
    assert watch.wait(0) is False


def test_a_rolled_back_write_does_not_wake_it(backend: LocalBackend, watch: StoreWatch) -> None:
    with pytest.raises(RuntimeError), backend.store.write() as conn:
        conn.execute("DELETE FROM variables")
        raise RuntimeError("changed my mind")
    assert watch.wait(0) is False
    assert backend.read_variable("opened").value == 1


def test_a_wake_ends_the_wait_under_way(watch: StoreWatch) -> None:
    answers: list[bool] = []
    waiting = threading.Thread(target=lambda: answers.append(watch.wait(3600)))
    waiting.start()
    watch.wake()
    waiting.join(BOUND)
    assert not waiting.is_alive() and answers == [False]
    assert watch.wait(0) is False  # used up


def test_a_wake_with_no_wait_under_way_ends_the_next_one_only(
    backend: LocalBackend, watch: StoreWatch
) -> None:
    watch.wake()
    watch.wake()  # twice before a wait: still one
    assert watch.wait(3600) is False
    backend.set_variable("later", 1)
    assert watch.wait(3600) is True  # a change, not a wake left over


def test_a_store_file_that_is_not_there_has_no_watch(tmp_path: Path) -> None:
    assert open_watch(tmp_path / "missing.db") is None
    assert LocalBackend(tmp_path / "never-opened.db").watch_changes() is None


def test_no_watch_when_no_descriptor_is_left(backend: LocalBackend) -> None:
    """inotify_init1 fails (EMFILE): the worker polls instead; nothing is left open."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    fillers: list[int] = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 4096), hard))
    gc.collect()  # garbage holding descriptors (files, sockets) would free them midway
    gc.disable()
    try:
        with contextlib.suppress(OSError):
            while True:
                fillers.append(os.open(os.devnull, os.O_RDONLY))
        assert backend.watch_changes() is None
        os.close(fillers.pop())  # one free: inotify opens, its wake pipe cannot
        assert backend.watch_changes() is None
        os.close(fillers.pop())
        assert backend.watch_changes() is None  # two free: the same (the first was closed)
        os.close(fillers.pop())  # room for all three
        watch = backend.watch_changes()
        assert watch is not None
        watch.close()
    finally:
        gc.enable()
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_closing_it_gives_back_its_descriptors(backend: LocalBackend) -> None:
    watch = backend.watch_changes()
    assert watch is not None
    held = (watch._events, watch._wake_r, watch._wake_w)  # inotify's and the wake pipe's
    assert len(set(held)) == 3
    for fd in held:
        os.fstat(fd)  # open
    watch.close()
    for fd in held:
        with pytest.raises(OSError):
            os.fstat(fd)
    replaced = os.open(os.devnull, os.O_RDONLY)  # may take one of the numbers given back
    try:
        watch.close()  # again: closes nothing that is not its own any more
        os.fstat(replaced)
    finally:
        os.close(replaced)


def test_wakes_with_nobody_waiting_never_block_the_waker(
    backend: LocalBackend, watch: StoreWatch
) -> None:
    """More wakes than the pipe holds (64 KiB here): the ones past it are dropped, one is
    enough, and one wait uses them all up."""
    failed: list[Exception] = []

    def wakes() -> None:
        try:
            for _ in range(70_000):
                watch.wake()
        except Exception as exc:
            failed.append(exc)

    woken = threading.Thread(target=wakes)
    woken.start()
    woken.join(BOUND)
    assert not woken.is_alive() and failed == []
    assert watch.wait(3600) is False  # woken
    backend.set_variable("after", 1)
    assert watch.wait(3600) is True  # a change: no wake was left over
