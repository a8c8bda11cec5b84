"""Generated annotations and JSON parameter values, for the run-time values suite."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.oracle.shared import PRELUDE  # noqa: F401  (the names the annotations use)

SCALARS = ["int", "float", "bool", "str", "date", "datetime", "UUID", "Path", "Decimal", "Color",
           "Level", "Any", "None", 'Literal[1, "a"]', 'Literal["x", "y"]', "Literal[True]",
           "Point", "list", "dict", "tuple"]  # fmt: skip
HASHABLE = ["int", "float", "bool", "str", "date", "UUID", "Decimal", "Color", "Level"]

TRAP_TEXT = [
    "1", "1.0", "1.5", " 2 ", "1_000", "-3", "+4", "abc", "", "yes", "no", "true", "False", "on",
    "off", "t", "0", "2024-01-05", "2024-02-30", "2024-01-05T10:11:12", "2024-01-05T10:11:12Z",
    "2024-01-05 10:11:12+02:00", "2024-01-05T00:00:00", "2024-01-05T10:11", "1700000000",
    "not-a-date", "12345678-1234-5678-1234-567812345678", "12345678123456781234567812345678",
    "a/b", "red", "RED", "LOW", "inf", "nan", "1e3", "2", "x", "a", "0.0", "-0", "1.25e2",
]  # fmt: skip
TRAP_NUMBERS: list[Any] = [-1, 0, 1, 2, 3, 1700000000, 10**20, 0.0, 1.0, 1.5, -2.5, 1e3, 2.0]


def annotations(depth: int = 0) -> st.SearchStrategy[str]:
    scalar = st.sampled_from(SCALARS)
    if depth >= 2:
        return scalar
    inner = st.deferred(lambda: annotations(depth + 1))
    hashable = st.sampled_from(HASHABLE)
    return st.one_of(
        scalar, scalar,
        inner.map(lambda t: f"list[{t}]"),
        inner.map(lambda t: f"tuple[{t}, ...]"),
        st.tuples(inner, inner).map(lambda p: f"tuple[{p[0]}, {p[1]}]"),
        hashable.map(lambda t: f"set[{t}]"),
        inner.map(lambda t: f"dict[str, {t}]"),
        inner.map(lambda t: f"Optional[{t}]"),
        st.tuples(inner, inner).map(lambda p: f"{p[0]} | {p[1]}" if "Literal" not in p[0] + p[1]
                                    and "None" not in p[0] + p[1] else f"Union[{p[0]}, {p[1]}]"),
    )  # fmt: skip


def scalar_values() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(TRAP_TEXT), st.sampled_from(TRAP_NUMBERS), st.booleans(), st.none()
    )


def json_values() -> st.SearchStrategy[Any]:
    scalar = scalar_values()
    return st.one_of(
        scalar, scalar, scalar,
        st.lists(scalar, max_size=3),
        st.lists(st.lists(scalar, max_size=2), max_size=2),
        st.dictionaries(st.sampled_from(["a", "b", "x", "y"]), scalar, max_size=3),
        st.lists(st.dictionaries(st.sampled_from(["x", "y"]), scalar, max_size=2), max_size=2),
    )  # fmt: skip


def cases() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"annotation": annotations(), "value": json_values()})
