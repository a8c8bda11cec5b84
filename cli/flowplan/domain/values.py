"""What a value must be for the store and the target to hold it: one set of rules for validate,
plan, apply, the command-line options and the Python API.

- JSON values (parameters, job variables, pull steps, templates, variables): finite numbers only
  (JSON has no NaN or Infinity: SQLite's JSON functions and Prefect's server refuse them), keys
  JSON writes as text, nesting Python's encoder and SQLite both take (a value the encoder refuses
  is reported past `MAX_DEPTH` levels).
- Whole numbers (concurrency limits, priorities): at most `MAX_INTEGER`, what Prefect's database
  stores (a 32-bit integer column on PostgreSQL); the local store takes the same range, so that
  what applies to one applies to the other.
- Seconds given on the command line (poll intervals, timeouts): finite and within bounds.
- Durations written as text (`30d`, `12h`: `flow-run delete --older-than`, the run retention
  setting): a whole number and a unit.
- Secrets: text; one holding a JSON object is that object (`secret_value`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flowplan.errors import InvalidInput

MAX_INTEGER = 2**31 - 1
MAX_DEPTH = 500  # SQLite's JSON functions stop at 1000 levels, Python's encoder near 1000
MAX_WAIT = 10 * 365 * 86400.0  # the longest wait or delay a command-line option takes


# what Python's JSON encoder refuses is what the store cannot hold: it is the fast check (C),
# and the walk below only runs to say where and why
_STRICT = json.JSONEncoder(allow_nan=False, check_circular=False)


def json_problem(value: Any) -> str | None:
    """None when `value` is a JSON value the store and the target hold, else where and why:
    `cfg.v: Infinity is not a finite number (JSON has no NaN or Infinity)`."""
    try:
        _STRICT.encode(value)
    except (ValueError, TypeError, RecursionError):
        return _first_problem(value) or "cannot be written as JSON"
    return None


def _first_problem(value: Any) -> str | None:
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"{path or 'the value'}: nested more than {MAX_DEPTH} levels deep"
        if isinstance(item, float) and not math.isfinite(item):
            shown = "NaN" if math.isnan(item) else ("-" if item < 0 else "") + "Infinity"
            where = path or "the value"
            return f"{where}: {shown} is not a finite number (JSON has no NaN or Infinity)"
        if isinstance(item, Mapping):
            for key, child in item.items():
                if not isinstance(key, str | int | float | bool) and key is not None:
                    return f"{path or 'the value'}: key {key!r} is not text"
                stack.append((child, f"{path}.{key}" if path else str(key), depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))
        elif item is not None and not isinstance(item, str | int | float):
            return f"{path or 'the value'}: {type(item).__name__} is not a JSON value"
    return None


def check_json(what: str, value: Any) -> Any:
    """`value`, or InvalidInput saying which part of `what` cannot be stored."""
    problem = json_problem(value)
    if problem:
        raise InvalidInput(f"{what}: {problem}")
    return value


def limit_problem(what: str, value: object, minimum: int = 1) -> str | None:
    """None for None or a whole number in [minimum, MAX_INTEGER], else what is wrong."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{what} must be a whole number, got {value!r}"
    if value < minimum:
        return f"{what} must be at least {minimum}, got {value}"
    if value > MAX_INTEGER:
        return f"{what} must be at most {MAX_INTEGER:,}, got {_short(value)}"
    return None


def check_limit(what: str, value: int | None, *, minimum: int = 1) -> int | None:
    """A concurrency limit or priority: None, or a whole number in [minimum, MAX_INTEGER]."""
    problem = limit_problem(what, value, minimum)
    if problem:
        raise InvalidInput(problem)
    return value


def check_seconds(
    what: str, value: float | None, *, minimum: float, maximum: float
) -> float | None:
    """A number of seconds from the command line: None, or finite within [minimum, maximum]."""
    if value is None:
        return None
    if not math.isfinite(value) or not minimum <= value <= maximum:
        raise InvalidInput(
            f"{what} must be between {_number(minimum)} and {_number(maximum)} seconds, got {value}"
        )
    return value


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def _short(value: int) -> str:
    if value.bit_length() > 100:  # str() of a huge int is slow, and refused past 4,300 digits
        return f"a number of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    return str(value)


_DURATION = re.compile(r"(\d{1,9})\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(what: str, text: str) -> timedelta:
    """`30d`, `12h`, `90m`, `45s`, `2w` (a whole number and a unit), or combined: `1d12h`.
    Anything else, zero, or more than ten years is an error naming `what`."""
    cleaned = text.strip().lower()
    parts = _DURATION.findall(cleaned)
    if not cleaned or "".join(f"{n}{unit}" for n, unit in parts) != cleaned.replace(" ", ""):
        raise InvalidInput(
            f"{what}: {text!r} is not a duration; write a whole number and a unit, s, m, h, d"
            " or w (for example 30d, 12h or 1d12h)"
        )
    seconds = sum(int(n) * _UNITS[unit] for n, unit in parts)
    if not 0 < seconds <= MAX_WAIT:
        raise InvalidInput(f"{what}: {text!r} must be more than 0 and at most 10 years")
    return timedelta(seconds=seconds)


def secret_value(text: str) -> Any:
    """A secret as Prefect's Secret block holds it: a JSON object is that object (its fields
    are what `{{ prefect.blocks.secret.NAME.field }}` reads; whole, it fills a mapping such as
    `env`), any other text is text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, dict) else text
