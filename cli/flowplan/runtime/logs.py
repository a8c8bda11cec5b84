"""A flow run's output, into the store as it happens, secrets masked: `print` (stdout,
stderr) and `logging` records are buffered and written every 0.2 s (by a thread of the sink's
own, or by whoever calls `tick`: the reporting channel's thread in a worker's run), and once
more at the end, so that the logs are complete before the final state is recorded. What the process
writes also still goes to its own stdout and stderr, which the worker streams, masked the same
and a whole line at a time."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TextIO

from flowplan.domain.clock import utcnow
from flowplan.domain.objects import LogLine

FLUSH_SECONDS = 0.2


class LogSink:
    def __init__(
        self,
        run_id: str,
        write: Callable[[Sequence[LogLine]], None],
        clean: Callable[[str], str] = lambda text: text,
        thread: bool = True,
    ) -> None:
        """`thread`: flush from a thread of the sink's own; without, the caller calls `tick`
        every FLUSH_SECONDS."""
        self.run_id = run_id
        self._write = write
        self.clean = clean
        self._pending: list[LogLine] = []
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._stop = threading.Event()
        self._thread = (
            threading.Thread(target=self._loop, name="flowplan-logs", daemon=True)
            if thread
            else None
        )

    def add(self, level: int, message: str) -> None:
        """Keep a line that `clean` was applied to already."""
        line = LogLine(self.run_id, utcnow(), level, message)
        with self._lock:
            self._pending.append(line)

    def flush(self) -> None:
        """Write the lines kept so far; when that fails they stay, before any newer ones."""
        self.flush_with(lambda lines: self._write(lines) if lines else None)

    def flush_with(self, send: Callable[[list[LogLine]], None]) -> None:
        """Hand the lines so far to `send` (which writes them, with more: a run's final state),
        after any flush under way: lines reach the store in order. When `send` fails they
        stay, before any newer ones."""
        with self._flushing:
            with self._lock:
                pending, self._pending = self._pending, []
            try:
                send(pending)
            except BaseException:
                with self._lock:
                    self._pending[:0] = pending
                raise

    def __enter__(self) -> LogSink:
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout = _Tee(sys.stdout, self, logging.INFO)
        sys.stderr = _Tee(sys.stderr, self, logging.WARNING)
        self._handler = _Handler(self)
        root = logging.getLogger()
        root.addHandler(self._handler)
        if root.level == logging.WARNING or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
        if self._thread is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, _Tee):
                stream.close_line()
        sys.stdout, sys.stderr = self._saved
        logging.getLogger().removeHandler(self._handler)
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()

    def _loop(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self.tick()

    def tick(self) -> None:
        """A flush between two others: a failure is said (on the process's own stderr) and the
        run goes on."""
        if self._stop.is_set():
            return  # the sink is closing: its last flush is its own
        try:
            self.flush()
        except Exception as exc:  # the store stayed busy, or the worker is gone
            print(f"flowplan: could not write logs yet: {exc}", file=self._saved[1])


def write_through(stream: TextIO, text: str) -> None:
    """Write to the process's own output. When nobody reads it any more (the worker was
    killed), the output goes to /dev/null from then on: the run goes on, its lines still
    reach the store, and no `print` fails with BrokenPipeError."""
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):
            os.dup2(devnull, fd)
        os.close(devnull)
        with contextlib.suppress(OSError):
            stream.flush()  # what was buffered now goes nowhere


class _Tee(io.TextIOBase):
    """Passes text through to the real stream and hands each complete line to the sink."""

    def __init__(self, stream: TextIO, sink: LogSink, level: int) -> None:
        self._stream, self._sink, self._level = stream, sink, level
        self._partial = ""

    def write(self, text: str) -> int:
        """Whole lines only, to the sink and the real stream alike: a secret written in two
        pieces is masked whole."""
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        if lines:
            cleaned = [self._sink.clean(line) for line in lines]
            for line in cleaned:
                self._sink.add(self._level, line)
            write_through(self._stream, "".join(f"{line}\n" for line in cleaned))
        return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError):
            self._stream.flush()

    def close_line(self) -> None:
        if self._partial:
            cleaned = self._sink.clean(self._partial)
            self._sink.add(self._level, cleaned)
            write_through(self._stream, cleaned)
            self._partial = ""

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", "utf-8")

    def fileno(self) -> int:
        return self._stream.fileno()


class _Handler(logging.Handler):
    def __init__(self, sink: LogSink) -> None:
        super().__init__(logging.DEBUG)
        self._sink = sink
        self.setFormatter(logging.Formatter("%(name)s - %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self._sink.clean(self.format(record))
            self._sink.add(record.levelno, text)
            write_through(self._sink._saved[1], f"{record.levelname:<8} | {text}\n")
        except Exception:
            self.handleError(record)
