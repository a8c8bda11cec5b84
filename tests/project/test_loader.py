from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from flowplan.errors import ProjectFileError
from flowplan.project.loader import load_file


def load(tmp_path: Path, text: str | bytes):
    path = tmp_path / "prefect.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return load_file(path, "prefect.yaml")


def test_anchors_aliases_and_merge_keys(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        "definitions:\n"
        "  base: &base\n"
        "    entrypoint: f.py:f\n"
        "    tags: [a]\n"
        "deployments:\n"
        "  - <<: *base\n"
        "    name: one\n"
        "    tags: [b]\n"
        "  - *base\n",
    )
    first, second = loaded.data["deployments"]
    assert first == {"entrypoint": "f.py:f", "tags": ["b"], "name": "one"}
    assert second == {"entrypoint": "f.py:f", "tags": ["a"]}
    assert loaded.anchor_holders == frozenset({"definitions"})
    assert loaded.positions.of(("deployments", 0, "name")) == (7, 11)
    assert loaded.positions.of(("deployments", 0, "name"), key=True) == (7, 5)
    # an unknown path falls back to its nearest known ancestor
    assert loaded.positions.of(("deployments", 0, "nope", 3)) == (6, 5)


def test_values_resolve_as_yaml_1_1_like_prefect(tmp_path: Path) -> None:
    loaded = load(tmp_path, "a: yes\nb: 1:30:00\nc: 2024-01-01\nd: '1.0'\ne: 1.0\n")
    assert loaded.data == {"a": True, "b": 5400, "c": "2024-01-01", "d": "1.0", "e": 1.0}


@pytest.mark.parametrize(
    ("content", "message", "line"),
    [
        ("", "file is empty", None),
        ("# only a comment\n", "file is empty", None),
        ("- a\n- b\n", "expected a mapping at the top level, got a list", 1),
        ("just text\n", "expected a mapping at the top level, got a single value", 1),
        ("a: 1\nb: [1, 2\n", "YAML syntax error", 3),
        ("a: 1\na: 2\n", "duplicate key 'a'", 2),
        ("a: *missing\n", "found undefined alias", 1),
        ("a: !Ref x\n", "could not determine a constructor for the tag '!Ref'", 1),
        ("<<: [1, 2]\n", "a merge key (<<) takes a mapping", 1),
        ("a: 1\n---\nb: 2\n", "YAML syntax error", 2),
    ],
)
def test_unusable_files_raise_positioned_errors(
    tmp_path: Path, content: str, message: str, line: int | None
) -> None:
    with pytest.raises(ProjectFileError) as raised:
        load(tmp_path, content)
    assert message in raised.value.message
    assert raised.value.line == line
    assert raised.value.file == "prefect.yaml"


def test_binary_file(tmp_path: Path) -> None:
    with pytest.raises(ProjectFileError, match="binary file"):
        load(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")


def test_not_utf8_reports_the_byte_position(tmp_path: Path) -> None:
    with pytest.raises(ProjectFileError) as raised:
        load(tmp_path, b"name: ok\ndescription: caf\xe9\n")
    assert raised.value.message == "not valid UTF-8 (byte 0xe9)"
    assert (raised.value.line, raised.value.column) == (2, 17)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ProjectFileError, match="no such file"):
        load_file(tmp_path / "nope.yaml")
    with pytest.raises(ProjectFileError, match="is a directory"):
        load_file(tmp_path)


def test_twenty_megabyte_file_is_refused_without_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: " + b"x" * (20 * 1024 * 1024) + b"\n")
    start = time.perf_counter()
    with pytest.raises(
        ProjectFileError, match=r"file is 20\.0 MB; project files are read up to 5 MB"
    ):
        load_file(path)
    assert time.perf_counter() - start < 5  # generous: the point is that it is not parsed


def test_alias_bomb_is_rejected_quickly_with_bounded_memory(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
        previous = name
    tracemalloc.start()
    with pytest.raises(ProjectFileError, match="alias bomb"):
        load(tmp_path, "\n".join(lines) + "\n")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 20 * 1024 * 1024  # 9**9 expanded values would need gigabytes


def test_recursive_alias(tmp_path: Path) -> None:
    with pytest.raises(ProjectFileError, match="recursive alias"):
        load(tmp_path, "a: &a [1, *a]\n")
