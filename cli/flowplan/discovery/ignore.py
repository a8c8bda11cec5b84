"""`.gitignore`-style patterns (also used for `.prefectignore`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from flowplan import files


@dataclass(frozen=True)
class Rule:
    regex: re.Pattern[str]
    negated: bool
    directory_only: bool


def _translate(pattern: str) -> str:
    """Regex source for one pattern, matched against a path relative to the ignore file."""
    anchored = pattern.startswith("/") or "/" in pattern
    pattern = pattern.lstrip("/")
    out = [] if anchored else ["(?:.*/)?"]
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            before_ok = i == 0 or pattern[i - 1] == "/"
            after = pattern[i + 2 : i + 3]
            if before_ok and after == "/":
                out.append("(?:.*/)?")
                i += 3
                continue
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 2)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def parse_rules(text: str) -> list[Rule]:
    rules = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if raw.endswith("\\ "):
            line = raw[:-2] + " "
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        if negated or line.startswith("\\"):
            line = line[1:]
        directory_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        rules.append(Rule(re.compile(_translate(line)), negated, directory_only))
    return rules


@dataclass(frozen=True)
class IgnoreFile:
    base: str  # directory of the ignore file, relative to the scan root ("" for the root)
    rules: tuple[Rule, ...]

    def decide(self, relative: str, is_dir: bool) -> bool | None:
        """True: ignored; False: re-included by a `!` rule; None: no rule matched.

        Paths are checked top-down and ignored directories are never entered, so a rule only
        needs to match the path itself, not its parents.
        """
        if self.base:
            if not relative.startswith(self.base + "/"):
                return None
            relative = relative[len(self.base) + 1 :]
        verdict = None
        for rule in self.rules:
            if rule.directory_only and not is_dir:
                continue
            if rule.regex.fullmatch(relative):
                verdict = not rule.negated
        return verdict


def load_ignore_file(path: Path, base: str) -> IgnoreFile | None:
    try:
        text = files.read_bytes(path, what="ignore files").decode("utf-8", errors="replace")
    except files.UnreadableFile:
        return None  # missing (the usual case), or not a regular file
    rules = parse_rules(text)
    return IgnoreFile(base, tuple(rules)) if rules else None


def is_ignored(files: list[IgnoreFile], relative: str, is_dir: bool) -> bool:
    ignored = False
    for ignore in files:
        verdict = ignore.decide(relative, is_dir)
        if verdict is not None:
            ignored = verdict
    return ignored
