"""The one place that writes to the terminal.

Data (tables, JSON, plans) goes to stdout; diagnostics go to stderr. Rich is imported only when a
table or styled output is actually needed, because start-up time is a feature: plain lines are
written directly. `NO_COLOR` is honoured, and colour is used only on a terminal.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

_STYLES = {"error": "31", "warning": "33", "ok": "32", "dim": "2", "bold": "1"}


def _colour_enabled(stream: TextIO) -> bool:
    """As rich decides: NO_COLOR wins, then FORCE_COLOR; otherwise a terminal that is not dumb."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("TERM", "").lower() in ("dumb", "unknown"):
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def width() -> int:
    """The width of stdout's lines: the terminal's (or $COLUMNS); 200 off a terminal, where
    nothing wraps lines and folding a value would only hide it."""
    import shutil

    if os.environ.get("COLUMNS") or sys.stdout.isatty():
        return max(shutil.get_terminal_size((200, 24)).columns, 40)
    return 200


def styled(text: str, style: str, stream: TextIO | None = None) -> str:
    """Wrap `text` in an ANSI style when the target stream shows colour."""
    if not _colour_enabled(stream or sys.stdout):
        return text
    return f"\x1b[{_STYLES[style]}m{text}\x1b[0m"


def counted(count: int, noun: str) -> str:
    """`1 error`, `2 errors`, `0 warnings`."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def out(text: str = "") -> None:
    """Write a line of data to stdout."""
    sys.stdout.write(text + "\n")


def err(text: str = "", style: str | None = None) -> None:
    """Write a diagnostic line to stderr."""
    sys.stderr.write((styled(text, style, sys.stderr) if style else text) + "\n")


def out_json(data: Any) -> None:
    """Write `data` as indented JSON to stdout (the machine-readable twin of every table)."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def out_json_list(items: Iterable[Any]) -> None:
    """A JSON array with one compact object per line: valid JSON for `jq`, lines for `grep`,
    and fast for long lists. Items are data or JSON text already encoded."""
    lines = [item if isinstance(item, str) else _COMPACT.encode(item) for item in items]
    sys.stdout.write("[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n")


_COMPACT = json.JSONEncoder(ensure_ascii=False, default=str)


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Render a table on stdout with rich (imported here, not at start-up)."""
    from rich.console import Console
    from rich.table import Table

    # Off a terminal (pipes, CI logs) rich would wrap at 80 columns and fold ids in two.
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200
    console = Console(
        file=sys.stdout,
        width=width,
        no_color=bool(os.environ.get("NO_COLOR")),
        highlight=False,
        soft_wrap=False,
    )
    tbl = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        tbl.add_column(column, overflow="fold")
    for row in rows:
        tbl.add_row(*row)
    console.print(tbl)
