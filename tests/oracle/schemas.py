"""Generated flow modules for the parameter schema suite: annotations of every kind people write,
defaults of many kinds, docstrings in the style Prefect reads (and one it does not)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.oracle.shared import HELPERS  # noqa: F401  (the module the flows import)

MODULE = '''
import dataclasses, enum, typing
import datetime as dt
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum, IntEnum, auto
from pathlib import Path
from typing import Annotated, Any, Dict, List, Literal, Mapping, Optional, Sequence, Set, Tuple, Union
from uuid import UUID

from prefect import flow
from pydantic import BaseModel, Field

from helpers import LIMIT, Extra

DEFAULT_N = 5
NAME = "etl"
ITEMS = [1, 2]
Mode = Literal["fast", "slow"]
MaybeInt = Optional[int]


class Color(Enum):
    """A color."""

    RED = "red"
    BLUE = "blue"


class Num(IntEnum):
    ONE = 1
    TWO = 2


class Mixed(Enum):
    A = 1
    B = "b"


class Step(Enum):
    FIRST = auto()
    SECOND = auto()


class Cfg(BaseModel):
    """A config."""

    size: int
    label: str = "x"
    ratio: float = Field(0.5, description="how much", ge=0)
    color: Optional[Color] = None


@dataclasses.dataclass
class Point:
    x: float
    y: int = 0


class Outer(BaseModel):
    inner: Optional[Cfg] = None
    points: list[Point] = []
    max_size: int = Field(default=3, description="the size")


class Plain:
    pass
'''


ANNOTATIONS = [
    "int", "float", "str", "bool", "bytes", "date", "datetime", "time", "timedelta", "UUID",
    "Path", "Decimal", "Any", "None", "object", "Color", "Num", "Mixed", "Step", "Cfg", "Point",
    "Plain", "Mode", "MaybeInt", 'Literal["x"]', 'Literal[1, "a"]', "Literal[1, 2]",
    "Literal[True]", 'Literal["a", None]', "list", "List", "dict", "Dict", "tuple", "Tuple", "set",
    "Sequence[int]", "Mapping[str, int]", '"int"', '"list[Color]"', "typing.Optional[int]",
    "dt.date", "Annotated[int, Field(ge=1, le=10)]", 'Annotated[str, "meta"]',
    "Annotated[list[int], Field(min_length=1)]", "tuple[()]", "Outer", "Extra",
]  # fmt: skip

DEFAULTS = [
    None, "1", '"x"', "1.5", "True", "None", "[1, 2]", '(1, "a")', '{"a": 1}', "DEFAULT_N",
    "NAME", "ITEMS", "Color.RED", "Color.BLUE.value", "Num.TWO", 'Field(3, description="fd")',
    "Field(default=None)", "-1", '"2024-01-05"', "[]", "{}", "()", "LIMIT", 'Decimal("1.5")',
    "Field(default=5)", "date(2024, 1, 5)", 'Path("data")', "Decimal(2)", "object()",
]  # fmt: skip


def annotation(depth: int = 0) -> st.SearchStrategy[str]:
    plain = st.sampled_from(ANNOTATIONS)
    if depth >= 2:
        return plain
    inner = st.deferred(lambda: annotation(depth + 1))
    return st.one_of(
        plain, plain, plain,
        inner.map(lambda t: f"list[{t}]"),
        inner.map(lambda t: f"List[{t}]"),
        inner.map(lambda t: f"tuple[{t}, ...]"),
        st.tuples(inner, inner).map(lambda p: f"tuple[{p[0]}, {p[1]}]"),
        st.sampled_from(["int", "str", "Color", "date"]).map(lambda t: f"set[{t}]"),
        inner.map(lambda t: f"dict[str, {t}]"),
        inner.map(lambda t: f"Optional[{t}]"),
        st.tuples(inner, inner).map(lambda p: f"Union[{p[0]}, {p[1]}]"),
        st.tuples(st.sampled_from(["int", "str", "date", "Cfg", "list[int]"]),
                  st.sampled_from(["int", "str", "None", "float", "Color"])).map(
            lambda p: f"{p[0]} | {p[1]}"),
    )  # fmt: skip


def parameter() -> st.SearchStrategy[tuple[str, str | None, str | None]]:
    return st.tuples(
        st.sampled_from(["a", "b", "n", "day", "cfg", "items", "mode", "x_y"]),
        st.one_of(st.none(), annotation()),
        st.sampled_from(DEFAULTS),
    )


def docstring(names: list[str]) -> st.SearchStrategy[str]:
    google = st.lists(st.sampled_from(names or ["a"]), unique=True).map(
        lambda chosen: (
            "Run it.\n\n    Args:\n"
            + "".join(f"        {n} (int): the {n}\n            more about {n}\n" for n in chosen)
            + "\n    Returns:\n        nothing\n    "
        )
    )
    header = st.sampled_from(["Args", "Arguments", "Parameters"])
    plain = st.tuples(header, st.lists(st.sampled_from(names or ["a"]), unique=True)).map(
        lambda h: f"Summary.\n\n    {h[0]}:\n" + "".join(f"        {n}: about {n}\n" for n in h[1])
    )
    other = st.sampled_from(
        ["", "One line.", "Numpy style.\n\n    Parameters\n    ----------\n    a : int\n        the a\n    "]
    )  # fmt: skip
    return st.one_of(google, plain, other)


@st.composite
def flow_module(draw: st.DrawFn) -> str:
    chosen = draw(st.lists(parameter(), min_size=0, max_size=4, unique_by=lambda p: p[0]))
    ordered = sorted(chosen, key=lambda p: p[2] is not None)  # no default first
    parts = []
    for name, annotation_text, default in ordered:
        text = name + (f": {annotation_text}" if annotation_text else "")
        parts.append(text + (f" = {default}" if default is not None else ""))
    star = draw(st.sampled_from(["", "", "*args", "**kwargs: int"]))
    if star.startswith("**"):
        parts.append(star)
    elif star:
        parts.insert(len([p for p in ordered if p[2] is None]), star)
    doc = draw(docstring([p[0] for p in ordered]))
    body = f'    """{doc}"""\n' if doc else "    pass\n"
    future = draw(st.sampled_from(["", "", "from __future__ import annotations\n"]))
    return future + MODULE + f"\n\n@flow\ndef generated({', '.join(parts)}):\n{body}"


def cases() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"module": flow_module()})
