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
    """Render a table on stdout. A table of plain text that fits in the width is drawn here,
    exactly as rich draws it (importing rich costs more than a listing's query); anything else
    (wide characters, cells that would wrap) is rendered by rich, imported then."""
    plain = _plain_table(title, columns, rows)
    if plain is not None:
        sys.stdout.write(plain)
        return
    _rich_table(title, columns, rows)


_PLAIN_WIDTH = 200  # the width rich is given off a terminal (see _rich_table)


def _plain_table(
    title: str | None, columns: Sequence[str], rows: Sequence[Sequence[str]]
) -> str | None:
    """The text rich would write for this table (see _rich_table), or None when drawing it
    needs rich: a cell is not plain printable ASCII (wide characters, new lines, tabs, leading
    or trailing spaces), a header is empty, the table does not fit in the width, or rich's view of
    the terminal is one not followed here (a dumb terminal, Jupyter)."""
    styled = _rich_terminal()
    if styled is None or not all(columns) or any(len(row) != len(columns) for row in rows):
        return None  # (rich draws an empty header unstyled: left to it)
    texts = [*columns, *(cell for row in rows for cell in row)]
    if title:
        texts.append(title)
    if not all(map(_is_plain, texts)):
        return None
    widths = [max(len(text) for text in column) for column in zip(columns, *rows, strict=True)]
    total = sum(widths) + 3 * len(widths) + 1  # a cell is padded by a space on both sides
    if total > _rich_width() or (title and len(title) > total):
        return None
    bold, italic, end = ("\x1b[1m", "\x1b[3m", "\x1b[0m") if styled else ("", "", "")

    def rule(left: str, line: str, cross: str, right: str) -> str:
        return left + cross.join(line * (width + 2) for width in widths) + right

    def cells(values: Sequence[str], bar: str, style: str = "") -> str:
        close = end if style else ""  # rich styles the padding and the text apart
        padded = (f"{style} {close}{style}{value.ljust(width)}{close}{style} {close}"
                  for value, width in zip(values, widths, strict=True))  # fmt: skip
        return bar + bar.join(padded) + bar

    lines = []
    if title:  # centred over the table, the odd space on the right
        excess = total - len(title)
        lines.append(f"{italic}{' ' * (excess // 2)}{title}{' ' * (excess - excess // 2)}{end}")
    lines += [rule("┏", "━", "┳", "┓"), cells(columns, "┃", bold), rule("┡", "━", "╇", "┩")]
    lines += [cells(row, "│") for row in rows]
    lines.append(rule("└", "─", "┴", "┘"))
    return "\n".join(lines) + "\n"


def _rich_terminal() -> bool | None:
    """Whether rich treats stdout as a terminal (and styles the title and header): True or
    False, or None when rich would render in a way not followed here."""
    environ = os.environ
    if hasattr(builtins, "get_ipython"):  # rich renders for Jupyter there
        return None
    compatible = environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        terminal = compatible == "1"
    elif "FORCE_COLOR" in environ:
        terminal = environ["FORCE_COLOR"] != ""
    else:
        terminal = sys.stdout.isatty()
    if terminal and environ.get("TERM", "").lower() in ("dumb", "unknown"):
        return None  # no styles and 80 columns then
    return terminal


def _rich_width() -> int:
    """The width rich draws in (see _rich_table): 200 off a terminal unless $COLUMNS says
    otherwise; on a terminal $COLUMNS, or the size of the first of stdin, stdout and stderr
    that is a terminal, or 80."""
    columns = os.environ.get("COLUMNS")
    if not columns and not sys.stdout.isatty():
        return _PLAIN_WIDTH
    if columns and columns.isdigit():
        return int(columns)
    size = 0
    for default, stream in enumerate((sys.__stdin__, sys.__stdout__, sys.__stderr__)):
        try:
            descriptor = stream.fileno()  # type: ignore[union-attr]
        except Exception:  # as rich does: the standard descriptor then
            descriptor = default
        try:
            size = os.get_terminal_size(descriptor).columns
        except (AttributeError, ValueError, OSError):
            continue
        break
    return size or 80


def _is_plain(text: str) -> bool:
    """Printable ASCII without leading or trailing space: text rich lays out as it is."""
    return isinstance(text, str) and text.isascii() and text.isprintable() and text == text.strip()


def _rich_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    # Off a terminal (pipes, CI logs) rich would wrap at 80 columns and fold ids in two.
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200
    console = Console(
        file=sys.stdout,
        width=width,
        no_color=bool(os.environ.get("NO_COLOR")),
        markup=False,  # a value is shown as it is: `[/]` or `:smile:` in a name is not styling
        emoji=False,
        highlight=False,
        soft_wrap=False,
    )
    tbl = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        tbl.add_column(column, overflow="fold")
    for row in rows:
        tbl.add_row(*row)
    console.print(tbl)
