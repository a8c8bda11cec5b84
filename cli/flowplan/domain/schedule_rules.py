"""Schedule rules: cron expressions, intervals, rrules, time zones and dates, checked for the
schedule values and for the project file's checks alike.

`cron_problem` checks the standard five-field syntax itself (fast, with precise messages) and
hands anything it does not fully understand (L, W, #, ?, macros) to croniter.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from functools import lru_cache

_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
                ("day of week", 0, 7))  # fmt: skip
_NAMES = {
    3: {
        n: i + 1
        for i, n in enumerate(
            ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        )
    },
    4: {n: i for i, n in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
}
_MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_ISO_DURATION = re.compile(
    r"P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)
_CLOCK = re.compile(
    r"(?:(?P<days>\d+) days?,?\s*)?"
    r"(?:(?:(?P<hours>\d+):)?(?P<minutes>\d+):)?(?P<seconds>\d+(?:\.\d+)?)"
)
MAX_RRULE_LENGTH = 6500


class _NeedsCroniter(Exception):
    """The expression uses syntax this module does not check itself."""


def _value(token: str, field: int) -> int:
    if token.isdigit():
        return int(token)
    named = _NAMES.get(field, {}).get(token.lower())
    if named is None:
        raise _NeedsCroniter
    return named


def _field_problem(text: str, field: int) -> str | None:
    name, low, high = _CRON_FIELDS[field]
    for part in text.split(","):
        base, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            return f"{name} step must be a positive whole number, got {step!r}"
        if base == "*":
            continue
        bounds = base.split("-")
        if len(bounds) > 2 or not all(bounds):
            raise _NeedsCroniter
        names = list(_NAMES.get(field, ()))  # months and days of the week have names
        unknown = [b for b in bounds if names and b.isalpha() and b.lower() not in names]
        if unknown:
            return f"{name} has no name {unknown[0]!r}: use {', '.join(names)} or {low}-{high}"
        values = [_value(bound, field) for bound in bounds]
        for value in values:
            if not low <= value <= high:
                return f"{name} must be {low}-{high}, got {value}"
    return None


@lru_cache(maxsize=1024)
def cron_problem(expression: str) -> str | None:
    """None if `expression` is a valid cron expression, else what is wrong with it."""
    text = expression.strip()
    if not text.isascii():
        return _non_ascii(text)
    if text.lower() in _MACROS:
        return None
    fields = text.split()
    if len(fields) not in (5, 6):
        return f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}"
    for token in re.split(r"[,/\-\s]+", text):
        if token in ("R", "H") or token.startswith(("R(", "H(")):
            return "the random and hashed forms (R, H) are not supported"
    try:
        for index, field in enumerate(fields[:5]):
            problem = _field_problem(field, index)
            if problem:
                return problem
        if len(fields) == 6:
            raise _NeedsCroniter  # a seconds field: croniter decides
    except _NeedsCroniter:
        return _croniter_problem(text)
    if fields[2] != "*" and fields[3] != "*" and fields[4] == "*":  # impossible days of a month
        return _never_fires(text)
    return None


def _never_fires(text: str) -> str | None:
    """`0 0 31 2 *` is valid cron but no date ever matches it."""
    from croniter import croniter

    try:
        croniter(text, day_or=False).get_next()
    except Exception:  # croniter gives up after searching: no matching date exists
        return "no date ever matches it (check the day of the month against the month)"
    return None


def _croniter_problem(text: str) -> str | None:
    from croniter import croniter

    try:
        croniter(text)
    except Exception as exc:  # croniter raises several exception types for bad input
        said = re.sub(r"^\[.*?\]\s*", "", str(exc))  # croniter repeats the expression
        if "out of range" in said:
            return "a value is out of its field's range"
        if said.startswith("is not acceptable"):
            return "not valid cron syntax: minute hour day-of-month month day-of-week"
        return said or type(exc).__name__
    return None


def _non_ascii(text: str) -> str:
    """Python reads digits of every script (`int('٣')` is 3); schedules take ASCII only."""
    character = next(c for c in text if not c.isascii())
    return f"unexpected character {character!r}: use ASCII letters and digits"


# Prefect keeps an interval as a timedelta: whole microseconds (a smaller interval rounds to 0),
# up to 999,999,999 days
MAX_INTERVAL = 999_999_999 * 86400.0


def parse_interval(value: object) -> float:
    """Seconds from a number, an ISO-8601 duration (`PT10M`) or `[D days, ][H:]MM:SS`.

    Raises ValueError with a message for anything else, or for a value outside what a timedelta
    holds: at least 1 microsecond (a smaller one would round to 0) and at most 999,999,999 days.
    """
    if isinstance(value, bool):
        raise ValueError("expected seconds, an ISO-8601 duration or H:MM:SS, got a boolean")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an int with hundreds of digits
            raise ValueError(_out_of_range("a number that large")) from None
    elif isinstance(value, str):
        if not value.isascii():
            raise ValueError(_non_ascii(value))
        seconds = _parse_interval_text(value.strip())
    else:
        raise ValueError(f"expected seconds or a duration, got {type(value).__name__}")
    return check_interval_seconds(seconds, value)


def check_interval_seconds(seconds: float, given: object = None) -> float:
    """`seconds` when a timedelta holds it as a positive interval, else ValueError."""
    shown = repr(given if given is not None else seconds)
    if len(shown) > 40:
        shown = shown[:30] + "..."
    if math.isnan(seconds):
        raise ValueError(f"interval must be a number of seconds, got {shown}")
    if seconds <= 0:
        raise ValueError(f"interval must be greater than 0, got {shown}")
    if math.isinf(seconds) or seconds > MAX_INTERVAL:
        raise ValueError(_out_of_range(shown))
    if timedelta(seconds=seconds) <= timedelta(0):
        raise ValueError(
            f"interval must be at least 1 microsecond (0.000001 s), got {shown}, which rounds to 0"
        )
    return seconds


def _out_of_range(shown: str) -> str:
    return f"interval must be at most 999,999,999 days ({MAX_INTERVAL:,.0f} s), got {shown}"


def _parse_interval_text(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    iso = _ISO_DURATION.fullmatch(text.upper())
    if iso and text.upper() not in ("P", "PT") and not text.upper().endswith("T"):
        parts = {k: float(v) for k, v in iso.groupdict().items() if v}
        return (
            parts.get("weeks", 0) * 604800 + parts.get("days", 0) * 86400
            + parts.get("hours", 0) * 3600 + parts.get("minutes", 0) * 60 + parts.get("seconds", 0)
        )  # fmt: skip
    clock = _CLOCK.fullmatch(text)
    if clock and ":" in text:
        parts = {k: float(v) for k, v in clock.groupdict().items() if v}
        return (
            parts.get("days", 0) * 86400 + parts.get("hours", 0) * 3600
            + parts.get("minutes", 0) * 60 + parts.get("seconds", 0)
        )  # fmt: skip
    if re.fullmatch(r"P.*\d+(?:\.\d+)?[YM].*", text.upper()) and "T" not in text.upper()[:3]:
        raise ValueError(f"{text!r}: years and months have no fixed length; use days or weeks")
    raise ValueError(
        f"{text!r} is not an interval: use seconds (600), an ISO-8601 duration (PT10M) or H:MM:SS"
    )


@lru_cache(maxsize=256)
def timezone_problem(name: str) -> str | None:
    """None if `name` is a known IANA time zone, else a message with a suggestion."""
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        import difflib

        close = difflib.get_close_matches(name, sorted(zoneinfo.available_timezones()), 1)
        suggestion = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown time zone {name!r}{suggestion}"
    return None


def rrule_problem(text: str) -> str | None:
    if len(text) > MAX_RRULE_LENGTH:
        return f"rrule is {len(text)} characters long; at most {MAX_RRULE_LENGTH} are allowed"
    if not text.isascii():
        return _non_ascii(text)
    if text.lstrip().startswith("{"):
        return None  # JSON keyword arguments of an RRuleSchedule
    from dateutil.rrule import rrulestr

    try:
        rrulestr(text, forceset=True)
    except (ValueError, TypeError, IndexError) as exc:
        parts = [p.rpartition(":")[2] for p in re.split(r"[;\n]", text.strip()) if p.strip()]
        bare = next((p for p in parts if "=" not in p), None)
        if "unpack" in str(exc) and bare is not None:  # dateutil's own words for a bare part
            return f"invalid rrule: {bare!r} is not NAME=VALUE (e.g. FREQ=DAILY;BYHOUR=9)"
        return f"invalid rrule: {exc}"
    return None


def datetime_problem(text: str) -> str | None:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return f"{text!r} is not an ISO-8601 date-time (e.g. 2024-01-01T00:00:00)"
    return None
