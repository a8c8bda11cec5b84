"""A run's output into its logs, in this process: printed lines and logging records become log
lines (stdout INFO, stderr WARNING, a record its own level), cleaned, whole lines only, and still
reach the process's own streams; written by a thread as they come and once more at the end."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Sequence

import pytest

from flowplan.domain.objects import LogLine
from flowplan.runtime.logs import LogSink
from tests.integration.workers import wait_for


class Store:
    def __init__(self, failures: int = 0) -> None:
        self.lines: list[LogLine] = []
        self.failures = failures

    def write(self, lines: Sequence[LogLine]) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("database is locked")
        self.lines += lines


def own_streams(monkeypatch: pytest.MonkeyPatch) -> tuple[io.StringIO, io.StringIO]:
    """The process's stdout and stderr, set in the test itself (pytest sets its own between a
    fixture and the test)."""
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    root = logging.getLogger()
    monkeypatch.setattr(root, "level", logging.WARNING)
    return out, err


def test_printed_lines_are_logged_whole_cleaned_and_passed_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, err = own_streams(monkeypatch)
    store = Store()
    with LogSink("run-1", store.write, clean=lambda text: text.replace("s3cret", "***")):
        print("hello s3", end="")
        print("cret world")
        print("two\nlines")
        print("careful", file=sys.stderr)
        print("no newline at the end", end="")
        assert sys.stdout is not out and not sys.stdout.isatty()
    assert sys.stdout is out and sys.stderr is err
    assert [(line.flow_run_id, line.level, line.message) for line in store.lines] == [
        ("run-1", logging.INFO, "hello *** world"),
        ("run-1", logging.INFO, "two"),
        ("run-1", logging.INFO, "lines"),
        ("run-1", logging.WARNING, "careful"),
        ("run-1", logging.INFO, "no newline at the end"),
    ]
    assert out.getvalue() == "hello *** world\ntwo\nlines\nno newline at the end"
    assert err.getvalue() == "careful\n"


def test_logging_records_are_logged_at_their_level(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, err = own_streams(monkeypatch)
    store = Store()
    logger = logging.getLogger("my.flow")
    with LogSink("run-1", store.write, clean=lambda text: text.replace("pw", "**")):
        assert logging.getLogger().level == logging.INFO  # Prefect's run loggers log INFO
        logger.info("starting with pw")
        logger.debug("details")  # below the root's level
        logger.error("broken")
    logger.info("after the run")
    assert [(line.level, line.message) for line in store.lines] == [
        (logging.INFO, "my.flow - starting with **"),
        (logging.ERROR, "my.flow - broken"),
    ]
    assert err.getvalue() == "INFO     | my.flow - starting with **\nERROR    | my.flow - broken\n"


def test_a_root_level_set_by_the_flow_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    own_streams(monkeypatch)
    logging.getLogger().setLevel(logging.ERROR)
    with LogSink("run-1", Store().write):
        assert logging.getLogger().level == logging.ERROR


def test_lines_are_written_while_the_run_goes_on_and_kept_while_the_store_is_busy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, err = own_streams(monkeypatch)
    store = Store(failures=1)
    with LogSink("run-1", store.write):
        print("first")
        wait_for("the busy store's answer", lambda: "could not write logs yet" in err.getvalue())
        wait_for("the line in the store", lambda: store.lines)
        assert [line.message for line in store.lines] == ["first"]
        print("second")
    assert [line.message for line in store.lines] == ["first", "second"]
    assert err.getvalue() == "flowplan: could not write logs yet: database is locked\n"
