"""A run's output into its logs, in this process: printed lines and logging records become log
lines (stdout INFO, stderr WARNING, a record its own level), cleaned, whole lines only, and still
reach the process's own streams; written by a thread as they come and once more at the end."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flowplan.domain.objects import LogLine
from flowplan.runtime.logs import LogSink, write_through
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
        # its own thread, which never keeps the process from ending
        (thread,) = [thread for thread in threading.enumerate() if thread.name == "flowplan-logs"]
        assert thread.daemon
        print("first")
        wait_for("the busy store's answer", lambda: "could not write logs yet" in err.getvalue())
        wait_for("the line in the store", lambda: store.lines)
        assert [line.message for line in store.lines] == ["first"]
        print("second")
    assert [line.message for line in store.lines] == ["first", "second"]
    assert err.getvalue() == "flowplan: could not write logs yet: database is locked\n"


def test_a_root_logger_without_a_level_logs_info(monkeypatch: pytest.MonkeyPatch) -> None:
    own_streams(monkeypatch)
    logging.getLogger().setLevel(logging.NOTSET)
    store = Store()
    with LogSink("run-1", store.write):
        assert logging.getLogger().level == logging.INFO
        logging.getLogger("my.flow").info("hello")
    assert [line.message for line in store.lines] == ["my.flow - hello"]


def test_a_logger_set_to_debug_by_the_flow_is_logged_at_debug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, err = own_streams(monkeypatch)
    store = Store()
    logger = logging.getLogger("my.debugging.flow")
    monkeypatch.setattr(logger, "level", logging.DEBUG)
    with LogSink("run-1", store.write):
        logger.debug("details")
    assert [(line.level, line.message) for line in store.lines] == [
        (logging.DEBUG, "my.debugging.flow - details")
    ]
    assert err.getvalue() == "DEBUG    | my.debugging.flow - details\n"


def test_a_record_that_cannot_be_cleaned_is_reported_by_logging_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    own_streams(monkeypatch)
    handled: list[logging.LogRecord] = []
    monkeypatch.setattr(logging.Handler, "handleError", lambda self, record: handled.append(record))

    def clean(text: str) -> str:
        raise ValueError("cannot clean")

    store = Store()
    with LogSink("run-1", store.write, clean=clean):
        logging.getLogger("my.flow").warning("hello")
    assert [record.getMessage() for record in handled] == ["hello"] and store.lines == []


def test_nothing_is_written_when_there_is_nothing_new() -> None:
    writes: list[Sequence[LogLine]] = []
    sink = LogSink("run-1", writes.append, thread=False)
    sink.flush()
    assert writes == []
    sink.add(logging.INFO, "one")
    sink.flush()
    sink.flush()
    assert [[line.message for line in lines] for lines in writes] == [["one"]]


def test_lines_a_failed_send_kept_go_before_newer_ones() -> None:
    sink = LogSink("run-1", Store().write, thread=False)
    sink.add(logging.INFO, "one")

    def send(lines: list[LogLine]) -> None:
        sink.add(logging.INFO, "two")  # the flow logs on while the write is under way
        raise RuntimeError("database is locked")

    with pytest.raises(RuntimeError):
        sink.flush_with(send)
    sent: list[list[str]] = []
    sink.flush_with(lambda lines: sent.append([line.message for line in lines]))
    assert sent == [["one", "two"]]


def test_without_its_own_thread_the_sink_writes_when_ticked_and_at_the_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, err = own_streams(monkeypatch)
    store = Store(failures=1)
    with LogSink("run-1", store.write, thread=False) as sink:
        assert not any(thread.name == "flowplan-logs" for thread in threading.enumerate())
        print("first")
        sink.tick()  # the store is busy: said, kept
        assert store.lines == []
        sink.tick()
        assert [line.message for line in store.lines] == ["first"]
        print("second")
    assert [line.message for line in store.lines] == ["first", "second"]
    assert err.getvalue() == "flowplan: could not write logs yet: database is locked\n"
    sink.tick()  # closed: its last flush was its own
    assert len(store.lines) == 2


class Bare:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class Unflushable(io.StringIO):
    def flush(self) -> None:
        raise OSError("gone")


def test_the_streams_as_the_flow_sees_them(monkeypatch: pytest.MonkeyPatch) -> None:
    own_streams(monkeypatch)
    with LogSink("run-1", Store().write):
        assert sys.stdout.write("abc") == 3
        with pytest.raises(io.UnsupportedOperation):
            sys.stdout.fileno()
        sys.stdout.flush()
    monkeypatch.setattr(sys, "stdout", Bare())
    with LogSink("run-1", Store().write):
        assert sys.stdout.encoding == "utf-8"  # a stream that names none
    with tempfile.TemporaryFile("w", encoding="latin-1") as real:
        monkeypatch.setattr(sys, "stdout", real)
        with LogSink("run-1", Store().write):
            assert sys.stdout.encoding == "latin-1"
            assert sys.stdout.fileno() == real.fileno()
    monkeypatch.setattr(sys, "stdout", Unflushable())
    with LogSink("run-1", Store().write):
        sys.stdout.flush()  # a stream that cannot be flushed any more: the run goes on


class Broken(io.StringIO):
    """A stream nobody reads any more: writes and flushes fail with BrokenPipeError."""

    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def write(self, text: str) -> int:
        raise BrokenPipeError

    def flush(self) -> None:
        self.flushes += 1
        raise BrokenPipeError


def devnulls() -> int:
    """How many of this process's descriptors besides stdout and stderr are /dev/null."""
    found = 0
    for entry in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):  # (the descriptor iterdir itself used is gone)
            found += entry.name not in ("1", "2") and str(entry.readlink()) == os.devnull
    return found


def test_output_nobody_reads_goes_to_devnull_and_the_run_goes_on() -> None:
    saved = os.dup(1), os.dup(2)
    before = devnulls()
    try:
        stream = Broken()
        write_through(stream, "text\n")  # no BrokenPipeError
        assert [str(Path(f"/proc/self/fd/{fd}").readlink()) for fd in (1, 2)] == [os.devnull] * 2
        assert stream.flushes == 1  # what was buffered: flushed into /dev/null
        assert devnulls() == before
    finally:
        for fd, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)


def test_lines_are_stamped_when_they_come_and_written_through_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, _ = own_streams(monkeypatch)
    store = Store()
    before = datetime.now(UTC)
    with LogSink("run-1", store.write):
        sys.stdout.write("a\nb\nc")
    after = datetime.now(UTC)
    assert [line.message for line in store.lines] == ["a", "b", "c"]
    assert all(before <= line.timestamp <= after for line in store.lines)
    assert out.getvalue() == "a\nb\nc"
