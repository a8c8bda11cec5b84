"""Prefect's filter, sort and page bodies (`POST /<objects>/filter`), applied to the JSON of
`compat`. Pure functions.

A filter is `{field: criterion, "operator": "and_" | "or_"}`; a criterion is either operations
(`any_`, `not_any_`, `like_`, `before_`, `after_`, `is_null_`, `all_`, `startswith_`, `ge_`,
`le_`, ...) on the field's value, or, for a nested object such as a run's `state`, a filter of
its own. An operation given as None is not applied (Prefect's client sends every field).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

DEFAULT_LIMIT = 200  # Prefect's PREFECT_SERVER_API_DEFAULT_LIMIT, also the largest page


class FilterError(ValueError):
    """A filter, sort or page that cannot be applied: the message says which part and why."""


def matches(item: Mapping[str, Any], criteria: Mapping[str, Any] | None, where: str) -> bool:
    if not criteria:
        return True
    if not isinstance(criteria, Mapping):
        raise FilterError(f"{where}: expected an object, got {criteria!r}")
    operator = criteria.get("operator") or "and_"
    if operator not in ("and_", "or_"):
        raise FilterError(f"{where}.operator: expected 'and_' or 'or_', got {operator!r}")
    results = [
        _criterion(item, field, criterion, f"{where}.{field}")
        for field, criterion in criteria.items()
        if field != "operator" and criterion is not None
    ]
    return all(results) if operator == "and_" else (any(results) if results else True)


def _criterion(item: Mapping[str, Any], field: str, criterion: Any, where: str) -> bool:
    if field not in item:
        raise FilterError(f"{where}: flowplan cannot filter on {field!r}")
    if not isinstance(criterion, Mapping):
        raise FilterError(f"{where}: expected an object, got {criterion!r}")
    value = item[field]
    if any(not key.endswith("_") for key in criterion if key != "operator"):
        return matches(value if isinstance(value, Mapping) else {}, criterion, where)
    results = []
    for op, wanted in criterion.items():
        if wanted is None or op == "operator":
            continue
        check = _OPS.get(op)
        if check is None:
            raise FilterError(f"{where}: flowplan does not apply {op!r} (it applies "
                              f"{', '.join(sorted(_OPS))})")  # fmt: skip
        results.append(check(value, wanted))
    operator = criterion.get("operator") or "and_"
    return all(results) if operator == "and_" else (any(results) if results else True)


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _before(value: Any, wanted: Any) -> bool:
    moment = _time(value)
    return moment is not None and moment <= _wanted_time(wanted)


def _after(value: Any, wanted: Any) -> bool:
    moment = _time(value)
    return moment is not None and moment >= _wanted_time(wanted)


def _wanted_time(wanted: Any) -> datetime:
    try:
        moment = _time(wanted)
    except ValueError:
        moment = None
    if moment is None:
        raise FilterError(f"{wanted!r} is not a date and time")
    return moment


def _like(value: Any, wanted: Any) -> bool:
    needle = str(wanted).lower()
    return any(needle in str(v).lower() for v in _values(value) if v is not None)


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "any_": lambda value, wanted: any(v in wanted for v in _values(value)),
    "not_any_": lambda value, wanted: not any(v in wanted for v in _values(value)),
    "all_": lambda value, wanted: set(wanted) <= set(_values(value)),
    "like_": _like,
    "startswith_": lambda value, wanted: any(
        str(v).startswith(str(wanted)) for v in _values(value) if v is not None),
    "before_": _before,
    "after_": _after,
    "is_null_": lambda value, wanted: (value in (None, [], {})) == bool(wanted),
    "eq_": lambda value, wanted: value == wanted,
    "ge_": lambda value, wanted: value is not None and value >= wanted,
    "le_": lambda value, wanted: value is not None and value <= wanted,
    "gt_": lambda value, wanted: value is not None and value > wanted,
    "lt_": lambda value, wanted: value is not None and value < wanted,
}  # fmt: skip


def sort(items: list[dict[str, Any]], order: str | None, default: str) -> list[dict[str, Any]]:
    """`NAME_ASC`, `EXPECTED_START_TIME_DESC`, ...: the field's value, missing values last."""
    text = order or default
    field, _, direction = text.rpartition("_")
    key = field.lower()
    if direction not in ("ASC", "DESC") or not items or key not in items[0]:
        if not items and direction in ("ASC", "DESC"):
            return items
        raise FilterError(f"sort: flowplan cannot sort by {text!r}")
    present = [item for item in items if item[key] is not None]
    missing = [item for item in items if item[key] is None]
    present.sort(key=lambda item: item[key], reverse=direction == "DESC")
    return present + missing


def page(items: Sequence[dict[str, Any]], body: Mapping[str, Any]) -> list[dict[str, Any]]:
    limit, offset = body.get("limit"), body.get("offset") or 0
    if limit is None:
        limit = DEFAULT_LIMIT
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= DEFAULT_LIMIT:
        raise FilterError(f"limit: expected a whole number from 0 to {DEFAULT_LIMIT}, "
                          f"got {limit!r}")  # fmt: skip
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise FilterError(f"offset: expected a whole number from 0, got {offset!r}")
    return list(items[offset : offset + limit])


def select(
    items: Iterable[dict[str, Any]], criteria: Mapping[str, Any] | None, where: str
) -> list[dict[str, Any]]:
    return [item for item in items if matches(item, criteria, where)]


def ids(items: Iterable[Mapping[str, Any]], key: str = "id") -> set[Any]:
    return {item[key] for item in items}
