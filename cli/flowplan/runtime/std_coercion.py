"""Parameter values coerced to standard annotations without pydantic, as pydantic's lax mode
(which Prefect's engine uses) coerces the values a run's parameters hold (JSON values).

Covered: `Any`, `None`, `bool`, `int`, `float`, `str`, `Decimal`, `date`, `datetime`, `UUID`,
`Path`, Enums, `Literal`, `list`/`tuple`/`set`/`frozenset`/`dict` (bare, parametrised, and
their `typing` and `collections.abc` spellings), `Optional`/`Union`/`|` (pydantic's "smart"
unions: an exact match first, then the first member that accepts the value), `Annotated` (its
type), and dataclasses from a mapping. Anything else is `Unsupported`: the caller passes the
value on unchanged and says so.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import types
import typing
from collections import abc
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import PurePath
from typing import Any
from uuid import UUID


class Invalid(ValueError):
    """A value the annotation refuses; `path` leads to it inside the parameter."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message, self.path = message, path


class Unsupported(Exception):
    """An annotation this module does not know how to coerce to."""


_TRUE = frozenset({"true", "yes", "on", "1", "t", "y"})
_FALSE = frozenset({"false", "no", "off", "0", "f", "n"})
_INT = re.compile(r"\s*[+-]?\d+(_\d+)*(\.0*)?\s*")
_TIMESTAMP = re.compile(r"[+-]?(\d+(\.\d*([eE][+-]?\d+)?)?|\.\d+([eE][+-]?\d+)?)")
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[Tt _](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9})\d*)?)?"
    r"(Z|z|[+-]\d{2}:?\d{2})?)?"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SEQUENCES = {list: list, abc.Sequence: list, abc.MutableSequence: list, abc.Iterable: list,
              set: set, abc.Set: set, abc.MutableSet: set, frozenset: frozenset}  # fmt: skip


def coerce(annotation: Any, value: Any) -> Any:
    """`value` as `annotation` (raises Invalid or Unsupported)."""
    return _lax(annotation, value)


def _lax(tp: Any, value: Any) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is object or tp is typing.Any:
        return value
    if origin is typing.Annotated:
        return _lax(args[0], value)
    if origin is typing.Union or origin is types.UnionType:
        return _union(args, value)
    if origin is typing.Literal:
        return _literal(args, value)
    if tp is None or tp is type(None):
        if value is None:
            return None
        raise Invalid("Input should be None")
    if origin in _SEQUENCES or tp in _SEQUENCES:
        return _sequence(_SEQUENCES[origin or tp], args[0] if args else Any, value)
    if origin is tuple or tp is tuple:
        return _tuple(args, value)
    if origin in (dict, abc.Mapping, abc.MutableMapping) or tp in (dict, abc.Mapping):
        return _dict(args or (Any, Any), value)
    if isinstance(tp, type):
        return _scalar(tp, value)
    raise Unsupported(f"{tp!r}")


def _union(members: tuple[Any, ...], value: Any) -> Any:
    """pydantic's smart union: the first member that takes the value exactly (its own type),
    else the first that takes it strictly (an int for a float), else the first that converts
    it."""
    for tier in (2, 1):
        for member in members:
            if _tier(member, value) == tier:
                try:
                    return _lax(member, value)
                except (Invalid, Unsupported):
                    continue
    first: Invalid | None = None
    for member in members:
        try:
            return _lax(member, value)
        except Invalid as exc:
            first = first or exc
    assert first is not None  # a union has members, and each refused the value
    raise first


def _tier(tp: Any, value: Any) -> int:
    """How closely `value` is already of type `tp`: 2 exactly, 1 strictly, 0 by conversion
    (or not at all)."""
    origin, args = typing.get_origin(tp) or tp, typing.get_args(tp)
    if tp is Any or tp is object:
        return 1  # as pydantic ranks it: a float member before it still wins
    if tp is None or tp is type(None):
        return 2 if value is None else 0
    if origin is typing.Annotated:
        return _tier(args[0], value)
    if origin is typing.Literal:
        return 2 if any(_same_literal(option, value) for option in args) else 0
    if origin is typing.Union or origin is types.UnionType:
        return max(_tier(member, value) for member in args)
    if origin in (list, abc.Sequence) and type(value) is list:
        item = args[0] if args else Any
        return min([2, *(_tier(item, element) for element in value)])
    if origin in (dict, abc.Mapping) and type(value) is dict:
        key, item = args or (Any, Any)
        return min([2, *(min(_tier(key, k), _tier(item, v)) for k, v in value.items())])
    if origin in (int, str, bool) and type(value) is origin:
        return 2
    if origin is float:
        return 2 if type(value) is float else 1 if type(value) is int else 0
    return 0


def _same_literal(option: Any, value: Any) -> bool:
    """A literal matches as a mapping lookup does: 1 matches 1, 1.0 and True; "1" only "1"."""
    return isinstance(option, str) == isinstance(value, str) and option == value


def _literal(allowed: tuple[Any, ...], value: Any) -> Any:
    for option in allowed:
        if type(option) is type(value) and option == value:
            return option
    for option in allowed:
        if _same_literal(option, value):
            return option
    raise Invalid(f"Input should be {_either(allowed)}")


def _either(options: tuple[Any, ...] | list[Any]) -> str:
    shown = [repr(o) for o in options]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


def _sequence(kind: type, item: Any, value: Any) -> Any:
    if isinstance(value, str | bytes | dict) or not isinstance(value, list | tuple | set):
        raise Invalid(f"Input should be a valid {'list' if kind is list else 'set'}")
    return kind(_items(item, value))


def _items(item: Any, values: Any) -> list[Any]:
    result = []
    for index, element in enumerate(values):
        try:
            result.append(_lax(item, element))
        except Invalid as exc:
            raise Invalid(exc.message, (index, *exc.path)) from None
    return result


def _tuple(args: tuple[Any, ...], value: Any) -> tuple[Any, ...]:
    if isinstance(value, str | bytes | dict) or not isinstance(value, list | tuple):
        raise Invalid("Input should be a valid tuple")
    if not args or args == ((),):
        return tuple(_items(Any, value) if args == () else ())
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_items(args[0], value))
    if len(value) != len(args):
        raise Invalid(f"Tuple should have {len(args)} items, not {len(value)}")
    result = []
    for index, (tp, element) in enumerate(zip(args, value, strict=True)):
        try:
            result.append(_lax(tp, element))
        except Invalid as exc:
            raise Invalid(exc.message, (index, *exc.path)) from None
    return tuple(result)


def _dict(args: tuple[Any, ...], value: Any) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise Invalid("Input should be a valid dictionary")
    result = {}
    for key, item in value.items():
        try:
            result[_lax(args[0], key)] = _lax(args[1], item)
        except Invalid as exc:
            raise Invalid(exc.message, (str(key), *exc.path)) from None
    return result


def _scalar(tp: type, value: Any) -> Any:
    if issubclass(tp, enum.Enum):
        return _enum(tp, value)
    if tp is bool:
        return _bool(value)
    for kind, convert in _CONVERTERS:
        if tp is kind:
            return convert(value)
    if issubclass(tp, PurePath):
        if isinstance(value, str | PurePath):
            return tp(value)
        raise Invalid(f"Input is not a valid path for {tp}")
    if dataclasses.is_dataclass(tp):
        return _dataclass(tp, value)
    if isinstance(value, tp):
        return value
    raise Unsupported(tp.__qualname__)


def _enum(tp: type[enum.Enum], value: Any) -> enum.Enum:
    if isinstance(value, tp):
        return value
    members = list(tp)
    for member in members:
        if type(member.value) is type(value) and member.value == value:
            return member
    if issubclass(tp, int):
        try:
            number = _int(value)
            return next(m for m in members if m.value == number)
        except (Invalid, StopIteration):
            pass
    elif not isinstance(value, str):
        for member in members:
            if not isinstance(member.value, str) and member.value == value:
                return member
    raise Invalid(f"Input should be {_either([m.value for m in members])}")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    raise Invalid("Input should be a valid boolean, unable to interpret input")


def _int(value: Any) -> int:
    if isinstance(value, bool | int):
        return int(value)
    if isinstance(value, float | Decimal):
        if value != value or value in (float("inf"), float("-inf")) or value % 1:
            raise Invalid("Input should be a valid integer, got a number with a fractional part")
        return int(value)
    if isinstance(value, str) and _INT.fullmatch(value):
        return int(value.strip().replace("_", "").split(".")[0])
    if isinstance(value, str):
        raise Invalid("Input should be a valid integer, unable to parse string as an integer")
    raise Invalid("Input should be a valid integer")


def _float(value: Any) -> float:
    if isinstance(value, bool | int | float | Decimal):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise Invalid(
                "Input should be a valid number, unable to parse string as a number"
            ) from None
    raise Invalid("Input should be a valid number")


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise Invalid("Input should be a valid string")


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise Invalid("Decimal input should be an integer, float, string or Decimal object")
    try:
        result = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise Invalid("Input should be a valid decimal") from None
    if not result.is_finite():
        raise Invalid("Input should be a finite number")
    return result


def _uuid(value: Any) -> UUID:
    if isinstance(value, UUID):
        return value
    if not isinstance(value, str):
        raise Invalid("UUID input should be a string, bytes or UUID object")
    try:
        return UUID(value)
    except ValueError:
        raise Invalid("Input should be a valid UUID") from None


def _datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str) and _TIMESTAMP.fullmatch(value):
        value = Decimal(value)  # a number as text is a timestamp too
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise Invalid("Input should be a valid datetime")
    if not isinstance(value, str):
        return _from_timestamp(value)
    match = _DATETIME.fullmatch(value)
    if match is None:
        raise Invalid("Input should be a valid datetime or date")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    tz = None
    if zone:
        if zone in ("Z", "z"):
            tz = UTC
        else:
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                        int(second or 0), int((fraction or "0").ljust(6, "0")[:6]), tz)  # fmt: skip
    except ValueError as exc:
        raise Invalid(f"Input should be a valid datetime, {exc}") from None


def _from_timestamp(value: float | Decimal) -> datetime:
    """Seconds since the epoch (milliseconds beyond 2e10), to the microsecond (truncated)."""
    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if abs(number) > Decimal("2e10"):
        number /= 1000
    try:
        whole = int(number)
        micro = int((number - whole) * 1_000_000)
        return _EPOCH + timedelta(seconds=whole, microseconds=micro)
    except (OverflowError, ValueError, ArithmeticError):
        raise Invalid("Input should be a valid datetime, out of range") from None


def _date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        moment = _datetime(value)
    except Invalid:
        raise Invalid("Input should be a valid date or datetime") from None
    if moment.time() != datetime.min.time():
        raise Invalid("Datetimes provided to dates should have zero time - e.g. be exact dates")
    return moment.date()


def _dataclass(tp: type, value: Any) -> Any:
    if isinstance(value, tp):
        return value
    if not isinstance(value, dict):
        raise Invalid(f"Input should be a dictionary or an instance of {tp.__name__}")
    hints = typing.get_type_hints(tp, include_extras=True)
    known = {f.name for f in dataclasses.fields(tp) if f.init}
    unknown = [key for key in value if key not in known]
    if unknown:
        raise Invalid(f"Unexpected keyword argument {unknown[0]!r}")
    fields = {}
    for name, item in value.items():
        try:
            fields[name] = _lax(hints.get(name, Any), item)
        except Invalid as exc:
            raise Invalid(exc.message, (name, *exc.path)) from None
    try:
        return tp(**fields)
    except TypeError as exc:
        raise Invalid(str(exc)) from None


_CONVERTERS: tuple[tuple[type, Any], ...] = (
    (int, _int), (float, _float), (str, _str), (Decimal, _decimal), (UUID, _uuid),
    (datetime, _datetime), (date, _date),
)  # fmt: skip
