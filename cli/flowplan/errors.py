"""The `FlowplanError` tree and the process exit codes.

Anything raised as a `FlowplanError` is an expected, user-facing problem: the entry point prints
its message (no traceback) and exits with its code. Any other exception is a bug (exit 3).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of every flowplan command (documented in `--help` and the README)."""

    OK = 0
    USER_ERROR = 1  # invalid input, failed apply, failed run
    CHANGES_PENDING = 2  # `plan --detailed-exitcode` found changes
    INTERNAL_ERROR = 3  # a bug: a short notice and the path of the full traceback
    INTERRUPTED = 130  # Ctrl-C


class FlowplanError(Exception):
    """An expected error: printed as one message, without a traceback."""

    exit_code: ExitCode = ExitCode.USER_ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(FlowplanError):
    """A command line that cannot be carried out as given."""


class ProjectFileError(FlowplanError):
    """A project file that cannot be read or parsed at all."""

    def __init__(
        self,
        message: str,
        *,
        file: str,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.file = file
        self.line = line
        self.column = column

    @property
    def location(self) -> str:
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column or 1}"


class ValidationFailed(FlowplanError):
    """A project file has errors; the findings were already reported."""


class InvalidInput(FlowplanError, ValueError):
    """A value a user gave (a name, a limit, a template, job variables) that is not valid."""


class ObjectNotFound(FlowplanError, LookupError):
    """A pool, queue, deployment, run, variable or secret that does not exist."""

    @classmethod
    def named(
        cls, kind: str, name: str, known: Iterable[str] = (), where: str = ""
    ) -> ObjectNotFound:
        """`work pool 'x' not found` plus the closest known name, if one is close."""
        import difflib

        close = difflib.get_close_matches(name, list(known), 1, 0.6)
        hint = f"did you mean {close[0]!r}?" if close else None
        return cls(f"{kind} {name!r}{where} not found", hint=hint)


class DeploymentNotFound(ObjectNotFound):
    """No deployment has the given name or id."""


class ObjectAlreadyExists(FlowplanError):
    """Creating something whose name is taken."""


class StoreError(FlowplanError):
    """The local store cannot be opened or written (not a database, newer version, read-only)."""


class StoreFault(StoreError):
    """The store stopped being usable while in use: the disk is full, the file became
    read-only, was damaged, truncated, deleted or replaced. A worker stops for it."""


class UnreadableRow(FlowplanError):
    """A stored object flowplan cannot read (a value an older flowplan let in): asked for by
    name it is this error; in a listing it is left out with an `UnreadableRowWarning`."""

    def __init__(self, kind: str, object_id: str, name: str, reason: str, fix: str) -> None:
        super().__init__(f"{kind} {name!r} in the store cannot be read: {reason}", hint=fix)
        self.kind = kind
        self.object_id = object_id
        self.name = name

    def warning(self) -> UnreadableRowWarning:
        return UnreadableRowWarning(f"{self.message}; it is left out ({self.hint})")


class UnreadableRowWarning(UserWarning):
    """A stored object was left out of a listing because it cannot be read."""


class Declined(FlowplanError):
    """The user answered no to a confirmation: nothing was done (exit 1, not 130)."""


class StepExecutionError(FlowplanError):
    """A build, push or pull step failed; the message names the step and says why."""
