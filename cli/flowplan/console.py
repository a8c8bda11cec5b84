"""The one place that writes to the terminal.

Data (tables, JSON, plans) goes to stdout; diagnostics go to stderr. Rich is imported only when a
table or styled output is actually needed, because start-up time is a feature: plain lines are
written directly. `NO_COLOR` is honoured, and colour is used only on a terminal.
"""

from __future__ import annotations

import builtins
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
    """Render a table on stdout: off a terminal, a table of plain text that fits in the width
    (200 columns, or $COLUMNS) is drawn here, exactly as rich draws it (importing rich costs
    more than a listing's query); anything else (a terminal, styles, wide characters, cells that
    would wrap) is rendered by rich, imported here and not at start-up."""
    plain = _plain_table(title, columns, rows)
    if plain is not None:
        sys.stdout.write(plain)
        return
    _rich_table(title, columns, rows)


_PLAIN_WIDTH = 200  # the width rich is given off a terminal (see _rich_table)


def _plain_table(
    title: str | None, columns: Sequence[str], rows: Sequence[Sequence[str]]
) -> str | None:
    """The text rich would write for this table off a terminal, or None when drawing it needs
    rich: stdout is (or is forced to be treated as) a terminal, $COLUMNS is not a number, a cell
    is not plain printable ASCII (wide characters, new lines, rich markup or :emoji: codes), or
    the table does not fit in the width."""
    environ = os.environ
    columns_set = environ.get("COLUMNS")
    if columns_set and not columns_set.isdigit():
        return None  # rich asks the terminal then (stdin's, when only stdout is piped)
    limit = int(columns_set) if columns_set else _PLAIN_WIDTH
    if (
        sys.stdout.isatty()
        or "FORCE_COLOR" in environ
        or "TTY_COMPATIBLE" in environ
        or hasattr(builtins, "get_ipython")  # rich renders for Jupyter there
    ):
        return None
    if not columns:
        return None
    texts = [*columns, *(cell for row in rows for cell in row)]
    if title:
        texts.append(title)
        if title != title.strip():
            return None
    if any(len(row) != len(columns) for row in rows) or not all(map(_is_plain, texts)):
        return None
    widths = [max(len(text) for text in column) for column in zip(columns, *rows, strict=True)]
    inner = sum(widths) + 3 * len(widths) - 1  # each cell padded by one space on both sides
    if inner + 2 > limit or (title and len(title) > inner + 2):
        return None

    def rule(left: str, line: str, cross: str, right: str) -> str:
        return left + cross.join(line * (width + 2) for width in widths) + right

    def cells(values: Sequence[str], bar: str) -> str:
        padded = (f" {value.ljust(width)} " for value, width in zip(values, widths, strict=True))
        return bar + bar.join(padded) + bar

    lines = []
    if title:  # centred over the table, the odd space on the right
        excess = inner + 2 - len(title)
        lines.append(" " * (excess // 2) + title + " " * (excess - excess // 2))
    lines += [rule("┏", "━", "┳", "┓"), cells(columns, "┃"), rule("┡", "━", "╇", "┩")]
    lines += [cells(row, "│") for row in rows]
    lines.append(rule("└", "─", "┴", "┘"))
    return "\n".join(lines) + "\n"


def _is_plain(text: str) -> bool:
    """Printable ASCII that rich shows as it is: no markup (`[`), no leading or trailing space,
    and no `:name:` that could be an emoji code (rich replaces those; between colons only
    digits are left alone, as in a time of day, except the codes :100: and :1234:)."""
    if not isinstance(text, str) or not (text.isascii() and text.isprintable()):
        return False
    if "[" in text or text != text.strip():
        return False
    parts = text.split(":")
    for inner in parts[1:-1]:
        if " " in inner:
            continue
        name = inner.removesuffix("-emoji").removesuffix("-text")
        if not name.isdigit() or name in ("100", "1234"):
            return False
    return True


def _rich_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
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
