"""flowplan reads every value and key as Prefect's PyYAML (`yaml.safe_load`) does.

A differential test: generated documents full of YAML 1.1's traps, and every corpus file, are
loaded by both; the data must be equal. The only normalisations are the documented ones: keys
are JSON text (Prefect's API makes them so), dates and times are ISO text, and a duplicate key
is an error (DESIGN.md section 9; PyYAML keeps the last one silently).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowplan.errors import ProjectFileError
from flowplan.project.loader import load_file
from tests.conftest import corpus_files

TRAPS = [
    "yes", "Yes", "NO", "on", "Off", "y", "Y", "n", "N", "true", "False", "TRUE", "tRUE", "~",
    "null", "Null", "NULL", "1", "-1", "+1", "0", "-0", "00", "09", "017", "0o17", "0x1F", "0x_1",
    "0b101", "1_000", "1__0", "1:30", "190:20:30", "1:30:00.5", "1.5", "1.", ".5", "0.", "1e3",
    "1E3", "1.0e3", "1.0e+3", "6.8523015e+5", "685.230_15e+03", ".inf", "-.Inf", "+.INF", ".nan",
    "2024-01-01", "2024-1-1 10:00:00", "2024-01-01T10:00:00Z", "2024-01-01 10:00:00.5 +02:00",
    "12:30", "text", "a b", "x-y", "@at", "%pct", "1a", "0x", "0b", "+_1", "123456789012345678901",
]  # fmt: skip
KEY_TRAPS = [t for t in TRAPS if t not in ("~", "null", "Null", "NULL")] + ["k1", "k2", "k3"]


def normalise(value: Any) -> Any:
    """PyYAML's data in the form flowplan gives: JSON-text keys, ISO dates."""
    if isinstance(value, dict):
        return {_key(k): normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(item) for item in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int):
        return json.dumps(key)
    if isinstance(key, dt.date):
        return key.isoformat()
    return str(key)


def same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, float) and isinstance(theirs, float) and math.isnan(theirs):
        return math.isnan(ours)
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return ours.keys() == theirs.keys() and all(same(ours[k], theirs[k]) for k in ours)
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(map(same, ours, theirs))
    return type(ours) is type(theirs) and ours == theirs


def scalar_text() -> st.SearchStrategy[str]:
    plain = st.sampled_from(TRAPS)
    quoted = st.sampled_from(TRAPS).map(lambda t: f"'{t}'") | st.sampled_from(TRAPS).map(
        lambda t: f'"{t}"'
    )
    return plain | quoted


def block(depth: int) -> st.SearchStrategy[list[str]]:
    """Lines of a block mapping (indented by the caller)."""
    value = scalar_text().map(lambda t: [t]) if depth >= 3 else (
        scalar_text().map(lambda t: [t]) | st.deferred(lambda: nested(depth + 1))
    )  # fmt: skip
    entry = st.tuples(st.sampled_from(KEY_TRAPS), value)
    return st.lists(entry, min_size=1, max_size=5).map(_render_mapping)


def nested(depth: int) -> st.SearchStrategy[list[str]]:
    sequence = st.lists(scalar_text(), min_size=1, max_size=4).map(
        lambda items: ["[" + ", ".join(items) + "]"]
    )
    return block(depth).map(lambda lines: ["", *lines]) | sequence


def _render_mapping(entries: list[tuple[str, list[str]]]) -> list[str]:
    lines = []
    for key, value in entries:
        if value and value[0] == "":  # a nested block
            lines.append(f"{key}:")
            lines += ["  " + line for line in value[1:]]
        else:
            lines.append(f"{key}: {value[0]}")
    return lines


def check(path: Path, text: str) -> None:
    try:
        theirs = normalise(yaml.safe_load(text))
    except yaml.YAMLError:
        with pytest.raises(ProjectFileError):
            load_file(path)
        return
    try:
        ours = load_file(path).data
    except ProjectFileError as exc:
        assert "duplicate key" in str(exc), f"flowplan refused what PyYAML reads: {exc}\n{text}"
        return
    assert same(ours, theirs), f"{text}\nflowplan: {ours!r}\nPyYAML:   {theirs!r}"


@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(lines=block(0))
def test_generated_documents_read_as_pyyaml_reads_them(lines: list[str], tmp_path: Path) -> None:
    text = "\n".join(lines) + "\n"
    path = tmp_path / "prefect.yaml"
    path.write_text(text)
    check(path, text)


@pytest.mark.corpus
@pytest.mark.parametrize("file", corpus_files(), ids=lambda p: p.name)
def test_corpus_files_read_as_pyyaml_reads_them(file: Path) -> None:
    check(file, file.read_text())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("y: 1\nn: 2\non: 3\n", {"y": 1, "n": 2, "true": 3}),
        ("a: 1e3\nb: 1.0e+3\nc: 1.0e3\n", {"a": "1e3", "b": 1000.0, "c": "1.0e3"}),
        ("1: a\nnull: b\n2024-01-01: c\n", {"1": "a", "null": "b", "2024-01-01": "c"}),
        ("a: 1:30:00\nb: 017\nc: 0b11\nd: 1_000\n", {"a": 5400, "b": 15, "c": 3, "d": 1000}),
    ],
)
def test_the_known_differences_from_ruamel(tmp_path: Path, text: str, expected: object) -> None:
    path = tmp_path / "prefect.yaml"
    path.write_text(text)
    assert load_file(path).data == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x: &a 1\ny: &a 2\nz: *a\n", "2:4: anchor &a is defined twice (first on line 1)"),
        ("a: !!set {x, y}\n", "1:4: the !!set tag is not supported"),
    ],
)
def test_what_pyyaml_refuses_or_json_cannot_hold_is_an_error(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "prefect.yaml"
    path.write_text(text)
    with pytest.raises(ProjectFileError) as caught:
        load_file(path)
    assert f"{caught.value.location}: {caught.value}".endswith(message) or message in (
        f"{caught.value.location.split(':', 1)[-1]}: {caught.value}"
    ), f"{caught.value.location}: {caught.value}"
