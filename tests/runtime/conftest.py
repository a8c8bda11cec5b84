"""A run's reporting channel stops its own process group with SIGTERM when its worker goes
(`reporter.SocketReporter`). A channel opened in a test process belongs to pytest's process
group (under `make mutation`, to mutmut's own, which that signal ends): here that one signal is
recorded instead of sent, and a test during which the channel asked for it fails. Signals to
other process groups (a run's, a fork server's) are sent as usual, also from a process the test
forked that made a group of its own (a run forked by a fork server the test forked).

Also the channel tests' `backend` (a store in the test's directory) and `server` (a worker's
reporting channel serving that store)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.runtime.reporter_server import ReporterServer
from tests.runtime.helpers import store

_send = os.killpg
_to_own_group: list[int] = []
_pytests_group: list[int] = []  # the process group of the tests' process


def _killpg(group: int, signum: int) -> None:
    if group in _pytests_group:
        _to_own_group.append(signum)
        return
    _send(group, signum)


@pytest.fixture(autouse=True, scope="session")
def _own_process_group_kept() -> Iterator[None]:
    _pytests_group[:] = [os.getpgrp()]
    os.killpg = _killpg
    try:
        yield
    finally:
        os.killpg = _send


@pytest.fixture(autouse=True)
def _no_signal_to_own_group(_own_process_group_kept: None) -> Iterator[None]:
    _to_own_group.clear()
    yield
    assert not _to_own_group, (
        f"something in this test process signalled its own process group: {_to_own_group}"
        " (a reporting channel whose worker went away?)"
    )


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return store(tmp_path / "home")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ReporterServer]:
    channel = ReporterServer(lambda: LocalBackend(tmp_path / "home" / "flowplan.db"))
    yield channel
    channel.close()
