"""The entry point and the one error boundary.

`FlowplanError` -> its message on stderr, exit 1 (or its own code). Usage errors -> exit 1.
Ctrl-C -> exit 130. Anything else is a bug: a short notice, the traceback written to a log file
whose path is printed, exit 3.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from flowplan import console, masking
from flowplan.errors import ExitCode, FlowplanError, ProjectFileError

API_URL = "FLOWPLAN_API_URL"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):  # print anything: a lone surrogate from a file too
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    # one path for every byte printed: secrets read in this process are masked
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = masking.MaskedStream(sys.stdout), masking.MaskedStream(sys.stderr)
    api_url = os.environ.get(API_URL)  # --api-url sets it for this command line only
    try:
        return _run(args)
    finally:
        sys.stdout, sys.stderr = saved
        if api_url is None:
            os.environ.pop(API_URL, None)
        else:
            os.environ[API_URL] = api_url


def _run(args: list[str]) -> int:
    _show_store_warnings()
    try:
        from flowplan.commands import build_app

        app = build_app(args)
        result = app(args=args, standalone_mode=False, prog_name="flowplan")
        return int(result or 0)
    except FlowplanError as exc:
        _report(exc)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        console.err("Interrupted.", "warning")
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:
        import click  # loaded with typer already

        if isinstance(exc, click.exceptions.Abort):  # Ctrl-C inside a prompt
            console.err("Aborted.", "warning")
            return int(ExitCode.INTERRUPTED)
        if isinstance(exc, click.ClickException):  # a command line click cannot parse
            _usage_error(exc)
            return int(ExitCode.USER_ERROR)
        return _bug(exc)


def _usage_error(exc: Any) -> None:
    """The message, then the usage line of the command (or group) that refused the command
    line and where its help is."""
    console.err(f"Error: {exc.format_message()}", "error")
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        console.err("Run 'flowplan --help' for usage.")
        return
    console.err(ctx.get_usage())
    console.err(f"Run '{ctx.command_path} --help' for help.")


def _show_store_warnings() -> None:
    """A stored row left out of a listing is a `warning:` line, like every other warning."""
    import warnings

    from flowplan.errors import UnreadableRowWarning

    # once per message; setting the filter again resets what was shown (in-process commands)
    warnings.filterwarnings("default", category=UnreadableRowWarning)
    shown = warnings.showwarning
    if getattr(shown, "flowplan", False):
        return

    def show(message: Warning | str, category: type[Warning], *args: object, **kw: object) -> None:
        if issubclass(category, UnreadableRowWarning):
            console.err(f"warning: {message}", "warning")
        else:
            shown(message, category, *args, **kw)  # type: ignore[arg-type]

    show.flowplan = True  # type: ignore[attr-defined]
    warnings.showwarning = show


def _report(exc: FlowplanError) -> None:
    where = f"{exc.location}: " if isinstance(exc, ProjectFileError) else ""
    console.err(f"Error: {where}{exc}", "error")


def _bug(exc: BaseException) -> int:
    import tempfile  # only for a crash: every command pays for what is imported at the top
    import traceback

    from flowplan.private_file import write_private

    log_dir = Path(os.environ.get("FLOWPLAN_HOME", Path.home() / ".flowplan")) / "logs"
    try:
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        log_dir.chmod(0o700)
    except OSError:
        log_dir = Path(tempfile.mkdtemp(prefix="flowplan-logs-"))  # made 0700
    log = log_dir / f"crash-{datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}.log"
    try:
        # 0600: a traceback can hold values from the project or the store
        write_private(log, masking.mask("".join(traceback.format_exception(exc))))
        where = f"The full traceback is in {log}"
    except OSError:
        where = "The traceback could not be written to a file"
    console.err(f"Internal error (a bug in flowplan): {type(exc).__name__}: {exc}", "error")
    console.err(f"{where}; please include it when reporting the problem.")
    return int(ExitCode.INTERNAL_ERROR)
