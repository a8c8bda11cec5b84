"""Executable examples in the docs: find them, run them, compare their output.

A page's fenced blocks are read in order, as one session in a fresh directory:
- a block whose info string has `title="PATH"` is a file: it is written to PATH (relative to
  the session's directory) before the blocks after it run;
- a ```console block holds commands (lines starting `$ `), each followed by its expected output;
  every command runs in bash, in the session's directory (a `cd` carries over to the next
  command), with the real `flowplan` and the tests' `python` first on PATH, HOME a throwaway directory shown as /home/me, no
  terminal, no colour and 100 columns;
- a block right after the line `<!-- not executed: REASON -->` is left alone.

Expected output is compared line by line after these normalisations, and no others: trailing
spaces are dropped; the session's home directory reads /home/me; a line that is only `...`
matches any number of lines; `...` inside a line matches any text; a last line `[N]` is the exit
code (without it the command must exit 0)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHELL_LANGUAGES = {"console", "sh", "shell", "bash", "zsh", "shell-session"}
SKIP = re.compile(r"^<!-- not executed: (?P<reason>.+\S) -->$")
FENCE = re.compile(r"^(?P<fence>```+)(?P<info>.*)$")
TITLE = re.compile(r'title="(?P<title>[^"]+)"')
HOME_SHOWN = "/home/me"
PROJECT = "weather"  # the directory a page starts in, under the home directory


@dataclass
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    language: str
    title: str | None
    text: str
    skip: str | None = None  # the reason it is not executed


@dataclass
class Command:
    line: int
    command: str
    expected: list[str] = field(default_factory=list)


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, in order."""
    found: list[Block] = []
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence, info = opening["fence"], opening["info"].strip()
        end = next((i for i in range(index + 1, len(lines)) if lines[i] == fence), len(lines))
        before = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        skip = SKIP.match(before.strip())
        title = TITLE.search(info)
        found.append(Block(
            page=path.name, line=index + 1, language=info.split(" ")[0].strip("{."),
            title=title["title"] if title else None, text="\n".join(lines[index + 1:end]) + "\n",
            skip=skip["reason"] if skip else None,
        ))  # fmt: skip
        index = end + 1
    return found


def commands(block: Block) -> list[Command]:
    """The `$ ` lines of a console block, each with the lines of output under it."""
    found: list[Command] = []
    for number, line in enumerate(block.text.splitlines(), start=block.line + 1):
        if line.startswith("$ "):
            found.append(Command(number, line[2:]))
        elif found:
            found[-1].expected.append(line)
        elif line.strip():
            raise ValueError(f"{block.page}:{number}: output before the first '$ ' command")
    return found


def expected_code(expected: list[str]) -> tuple[list[str], int]:
    lines = list(expected)
    while lines and not lines[-1].strip():
        lines.pop()
    code = re.fullmatch(r"\[(\d+)\]", lines[-1]) if lines else None
    return (lines[:-1], int(code[1])) if code else (lines, 0)


def matches(expected: list[str], actual: str) -> bool:
    """Whether `actual` is `expected` under the normalisations above."""
    parts = []
    for line in expected:
        line = line.rstrip()
        if line == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*".join(re.escape(piece) for piece in line.split("...")) + r"\n")
    got = "".join(line.rstrip() + "\n" for line in actual.rstrip("\n").splitlines())
    return re.fullmatch("".join(parts), got) is not None


class Session:
    """One page's examples: a home directory, a working directory and a `flowplan` on PATH."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cwd = root / PROJECT
        self.cwd.mkdir(parents=True)
        shims = root / ".bin"
        shims.mkdir()
        shim = shims / "flowplan"
        shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m flowplan "$@"\n')
        shim.chmod(0o755)
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("FLOWPLAN_", "PREFECT_", "PYTHON", "COLUMNS", "LINES"))}  # fmt: skip
        self.env = {
            **keep, "HOME": str(root),
            "PATH": f"{shims}:{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "PYTHONPATH": str(REPO / "cli"), "PYTHONUNBUFFERED": "1", "NO_COLOR": "1",
            "TERM": "dumb", "COLUMNS": "100", "LINES": "50",
        }  # fmt: skip
        self.state = root / ".cwd"

    def write(self, block: Block) -> None:
        assert block.title is not None
        path = self.cwd / block.title
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.text)

    def run(self, command: str) -> tuple[str, int]:
        """Run one command line; its output (stdout and stderr as they came) and exit code."""
        script = f'{command}\n__code=$?\npwd > {shlex.quote(str(self.state))}\nexit "$__code"\n'
        done = subprocess.run(
            ["bash", "-c", script], cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
        )  # fmt: skip
        if self.state.exists():
            self.cwd = Path(self.state.read_text().strip())
        return done.stdout.replace(str(self.root), HOME_SHOWN), done.returncode


def run_page(path: Path, root: Path) -> list[str]:
    """Run a page's examples in `root`; a description of each mismatch (empty: all match). A
    mismatch stops the page, since later commands build on earlier ones."""
    session = Session(root)
    for block in blocks(path):
        if block.skip:
            continue
        if block.title:
            session.write(block)
        if block.language != "console":
            continue
        for command in commands(block):
            expected, code = expected_code(command.expected)
            output, actual_code = session.run(command.command)
            if actual_code != code or not matches(expected, output):
                shown = "\n".join(expected)
                return [
                    f"{path.name}:{command.line}: $ {command.command}\n"
                    f"--- expected (exit {code}):\n{shown}\n"
                    f"--- actual (exit {actual_code}):\n{output.rstrip()}"
                ]
    return []


def pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("**/*.md"))]
