"""What both sides of the oracle suites share (this module runs in both environments): the
values a flow receives as comparable JSON, their types included, and the names the generated
annotations use."""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import PurePath
from typing import Any
from uuid import UUID

PRELUDE = """
import dataclasses, enum
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Optional, Union
from uuid import UUID

class Color(enum.Enum):
    RED = "red"
    TWO = 2

class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2

@dataclasses.dataclass
class Point:
    x: float
    y: int = 0
"""


HELPERS = """
from pydantic import BaseModel

LIMIT = 10


class Extra(BaseModel):
    level: int = 1
"""


HELPERS = (
    HELPERS
    + """
TEAM = "data"
"""
)


def encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return ["enum", type(value).__name__, value.name]
    if isinstance(value, int):
        return ["int", str(value)]
    if isinstance(value, float):
        return ["float", repr(value)]
    if isinstance(value, datetime):
        return ["datetime", value.isoformat()]
    if isinstance(value, date | time | timedelta | Decimal | UUID | PurePath):
        return [type(value).__name__, str(value)]
    if isinstance(value, list | tuple):
        return [type(value).__name__, [encode(item) for item in value]]
    if isinstance(value, set | frozenset):
        return [type(value).__name__, sorted((encode(item) for item in value), key=repr)]
    if isinstance(value, dict):
        return ["dict", [[encode(k), encode(v)] for k, v in value.items()]]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return ["object", type(value).__name__, encode(fields)]
    if hasattr(value, "model_dump"):
        return ["object", type(value).__name__, encode(dict(value))]
    return ["other", type(value).__name__, repr(value)]


def answer_each(answer: Callable[[int, dict[str, Any]], dict[str, Any]]) -> None:
    """A driver's batch: the cases in the file named first on the command line, one answer
    each (an exception answers {"error": ...}), written to the file named second."""
    cases_file, answers_file = sys.argv[1:3]
    with open(cases_file) as given:
        cases = json.load(given)
    answers = []
    for index, case in enumerate(cases):
        try:
            answers.append(answer(index, case))
        except Exception as exc:
            answers.append({"error": f"{type(exc).__name__}: {exc}"})
    with open(answers_file, "w") as out:
        json.dump(answers, out)


# The secrets, variables and environment the job-variables suite resolves references against
# (the same on both sides). A secret holding a JSON object is a Secret block with a dict value
# in Prefect, so `{{ prefect.blocks.secret.db.password }}` reads a field on both sides.
JOB_SECRETS = {
    "api-token": "tok-3f9a1c77",
    "db": '{"user": "alice", "password": "pw-77e1b2", "port": 5432, "nested": {"k": "deep-41x"}}',
    "multi": "line-one-9q\nline-two-9q",
}
JOB_VARIABLES: dict[str, Any] = {
    "region": "eu-west-1", "count": 3, "flag": True, "cfg": {"a": 1, "b": [1, "x"]},
    "items": [1, "b"], "empty": "", "ratio": 0.5,
}  # fmt: skip
JOB_ENVIRON = {"FP_ORACLE_A": "alpha", "FP_ORACLE_EMPTY": ""}
