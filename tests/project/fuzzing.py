"""Mutating real project files, and running `validate` on the result in this process (shared by
the fuzz test and bench/fuzz_validate.py)."""

from __future__ import annotations

import contextlib
import io
import random
import signal
from collections.abc import Iterator
from pathlib import Path

from flowplan.main import main

# Text that breaks YAML's and flowplan's assumptions: explicit tags on bad values, odd numbers
# and dates, control and non-ASCII characters, anchors, merge keys, structure characters, and
# wrong types where lists or mappings belong.
TOKENS = [
    "!!int ", "!!float ", "!!bool ", "!!timestamp ", "!!str ", "!!binary ", "!!null ", "0x", "0b",
    "0o17", "+_1", "1_000", "-.inf", ".nan", "1e400", "2023-02-30", "2023-01-01T25:00:00",
    "12:30:00", "\x00", "\ud800", "\u0663", "\uff11", "\u202e", "~", "[", "]", "{", "}", "*a", "&a ",
    "<<: ", "<<: *a", "? ", ": ", "- ", "'", '"', "\\", "\t", "\n  ", "\n- ", "#", "%", "@", "`",
    "true", "yes", "null", "1.5", "-1", "requires: true", "schedules: 1.5", "tags: a,b",
    "cron: '\u0663 * * * *'", "interval: 0", "timezone: x/y", "entrypoint: ../x.py:f",
    "entrypoint: ':'", "{{ a.b }}", "{{ $X }}", "{{ prefect.blocks.x }}", "pull: 1", "build: {}",
    "work_pool: 3", "parameters: [1]", "name: ", "deployments: 5",
]  # fmt: skip


def mutate(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 4)):
        position = rng.randrange(len(text) + 1)
        choice = rng.random()
        if choice < 0.55:
            text = text[:position] + rng.choice(TOKENS) + text[position:]
        elif choice < 0.75:
            text = text[:position] + text[position + rng.randint(1, 40) :]
        else:
            lines = text.splitlines(keepends=True)
            if lines:
                lines[rng.randrange(len(lines))] = lines[rng.randrange(len(lines))]
                text = "".join(lines)
    return text


class Hang(Exception):
    pass


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise Hang(f"validate took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def validate(path: Path, seconds: int = 10) -> tuple[int, str]:
    """`flowplan validate path` in this process: its exit code and what it printed on stderr."""
    out, err = io.StringIO(), io.StringIO()
    with deadline(seconds), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["validate", "--ignore", "entrypoint-not-found", str(path)])
    return code, err.getvalue() + out.getvalue()


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
