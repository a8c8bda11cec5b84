"""Findings: one problem in a project file, with where it is and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Severity = Literal["error", "warning"]
Path_ = tuple[str | int, ...]


def format_path(path: Path_) -> str:
    """`("deployments", 1, "schedules", 0, "cron")` -> `deployments[1].schedules[0].cron`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "(top level)"


@dataclass(frozen=True)
class Finding:
    """A problem found in a file. `code` names the kind of problem (for `--ignore`)."""

    severity: Severity
    code: str
    message: str
    path: Path_ = ()
    hint: str | None = None
    file: str = ""
    line: int | None = None
    column: int | None = None

    def located(self, file: str, line: int | None, column: int | None) -> Finding:
        return replace(self, file=file, line=line, column=column)

    def as_error(self) -> Finding:
        return replace(self, severity="error")

    @property
    def location(self) -> str:
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column or 1}"

    def render(self) -> str:
        """`file:line:col: path: message (hint)` - one line, the format editors understand."""
        where = f"{self.location}: " if self.file else ""
        what = f"{format_path(self.path)}: " if self.path else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{what}{self.message}{hint}"

    def to_json(self) -> dict[str, object]:
        return {
            "severity": self.severity,
            "code": self.code,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": format_path(self.path) if self.path else "",
            "message": self.message,
            "hint": self.hint,
        }


def error(code: str, message: str, path: Path_ = (), hint: str | None = None) -> Finding:
    return Finding("error", code, message, path, hint)


def warning(code: str, message: str, path: Path_ = (), hint: str | None = None) -> Finding:
    return Finding("warning", code, message, path, hint)
