"""Every way a project file can be unreadable, with the exact error a user sees: the words,
the line and column, and the hint (project/loader.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml as pyyaml

from flowplan.errors import ProjectFileError
from flowplan.project.loader import Positions, load_file

QUOTE = "quote the value to keep it as text"
JSON_LIKE = "write a list or a mapping"
DUPLICATE = "YAML keeps only one of them; remove or rename the other"


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "prefect.yaml"
    path.write_text(text)
    return load_file(path, "shown.yaml").data


@pytest.mark.parametrize(
    ("text", "message", "line", "column", "hint"),
    [
        (
            "a: 1\nb: [1, 2\n",
            "YAML syntax error: while parsing a flow sequence expected ',' or"
            " ']', but got '<stream end>'",
            3,
            1,
            None,
        ),
        (
            "a: 1\n---\nb: 2\n",
            "YAML syntax error: expected a single document in the stream but"
            " found another document",
            2,
            1,
            None,
        ),
        ("a: 1\n  b: 2\n", "YAML syntax error: mapping values are not allowed here", 2, 4, None),
        (
            "a: [\n",
            "YAML syntax error: while parsing a flow node expected the node content, but"
            " found '<stream end>'",
            2,
            1,
            None,
        ),
        ("a: !!int abc\n", "cannot read 'abc' as an int", 1, 4, QUOTE),
        ("a: !!bool maybe\n", "cannot read 'maybe' as a bool", 1, 4, QUOTE),
        ("x:\n  a: 2023-02-30\n", "cannot read '2023-02-30' as a timestamp", 2, 6, QUOTE),
        ("a: !!float x\n", "cannot read 'x' as a float", 1, 4, QUOTE),
        (
            "a: !!set {x, y}\n",
            "the !!set tag is not supported: a project file holds JSON-like data",
            1,
            4,
            JSON_LIKE,
        ),
        (
            "b: 1\na: !!omap [x: 1]\n",
            "the !!omap tag is not supported: a project file holds JSON-like data",
            2,
            4,
            JSON_LIKE,
        ),
        (
            "a: !!pairs [x: 1]\n",
            "the !!pairs tag is not supported: a project file holds JSON-like data",
            1,
            4,
            JSON_LIKE,
        ),
        ("a: 1\n? [a, b]\n: 1\n", "a mapping key must be a plain value", 2, 3, None),
        (
            "yes: 1\ntrue: 2\n",
            "duplicate key 'true' (the same key as 'yes' to PyYAML)",
            2,
            1,
            DUPLICATE,
        ),
        ("a: 1\n a2: 1\n", "YAML syntax error: mapping values are not allowed here", 2, 4, None),
        ("k: 1\nk: 2\n", "duplicate key 'k'", 2, 1, DUPLICATE),
        ("1: a\n'1': b\n", "duplicate key '1'", 2, 1, DUPLICATE),
        (
            "%YAML 1.1\na: 1\n",
            "YAML syntax error: expected '<document start>', but found <scalar>",
            2,
            1,
            None,
        ),
        (
            "- a\nb: c\n",
            "YAML syntax error: while parsing a block collection expected <block"
            " end>, but found '?'",
            2,
            1,
            None,
        ),
        (
            "key: [a, b]]\n",
            "YAML syntax error: while parsing a block mapping expected <block end>, but found ']'",
            1,
            12,
            None,
        ),
        (
            "a:\n\tb: c\n",
            "YAML syntax error: while scanning for the next token found character"
            " '\\t' that cannot start any token",
            2,
            1,
            None,
        ),
        (
            "a: " + "[" * 100 + "]" * 100 + "\n",
            "values nested more than 100 levels deep",
            1,
            103,
            None,
        ),
        (
            "a: [" + "1," * 599_998 + "]\n",
            "more than 600,000 values; project files are far smaller",
            1,
            1_199_999,
            None,
        ),
        (
            "a: &x 1\nb: &x 2\n",
            "anchor &x is defined twice (first on line 1); PyYAML, which"
            " Prefect uses, refuses the file",
            2,
            4,
            None,
        ),
        ("<<: 5\n", "a merge key (<<) takes a mapping or a list of mappings", 1, 5, None),
        (
            "<<: [{a: 1}, 3]\n",
            "a merge key (<<) takes a mapping or a list of mappings",
            1,
            14,
            None,
        ),
        (
            "'a': \"\\x\"\n",
            "YAML syntax error: while scanning a double-quoted scalar expected"
            " escape sequence of 2 hexdecimal numbers, but found '\"'",
            1,
            9,
            None,
        ),
    ],
)
def test_an_unreadable_file_says_where_and_what(
    tmp_path: Path, text: str, message: str, line: int, column: int, hint: str | None
) -> None:
    with pytest.raises(ProjectFileError) as caught:
        load(tmp_path, text)
    error = caught.value
    assert (error.message, error.line, error.column, error.hint, error.file) == (
        message, line, column, hint, "shown.yaml")  # fmt: skip


@pytest.mark.parametrize(
    "text",
    [
        "a: !!binary aGVsbG8=\n",
        "a: !!binary /w==\n",
        "a: 1:30\nb: 0o17\nc: 0x1f\nd: -0\n",
        "a: !!timestamp 2020-01-01T10:00:00\nb: 2020-01-01\n",
        "a: !!str 12\nb: !!int '7'\n",
    ],
)
def test_values_read_as_pyyaml_reads_them(tmp_path: Path, text: str) -> None:
    """Dates become ISO text and bytes UTF-8 text (JSON has neither); the rest as PyYAML."""
    expected = pyyaml.safe_load(text)
    for key, value in expected.items():
        if hasattr(value, "isoformat"):
            expected[key] = value.isoformat()
        elif isinstance(value, bytes):
            expected[key] = value.decode("utf-8", "replace")
    assert load(tmp_path, text) == expected


def test_a_tagged_float_stays_a_float(tmp_path: Path) -> None:
    data = load(tmp_path, "a: !!float 1\nb: 1\n")
    assert data == {"a": 1.0, "b": 1}
    assert isinstance(data, dict) and type(data["a"]) is float and type(data["b"]) is int


def test_keys_of_other_types_become_their_json_text(tmp_path: Path) -> None:
    assert load(tmp_path, "null: 1\n2: 2\n1.5: 3\non: 4\n") == {
        "null": 1, "2": 2, "1.5": 3, "true": 4}  # fmt: skip


def test_a_merge_keeps_explicit_keys_and_the_earliest_source(tmp_path: Path) -> None:
    data = load(tmp_path, "a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc: {<<: [*a, *b], y: 3, z: 4}\n")
    assert data == {"a": {"x": 1}, "b": {"x": 2, "y": 2}, "c": {"x": 1, "y": 3, "z": 4}}


def test_positions_without_any_known_ancestor() -> None:
    assert Positions().of(("a", 1)) is None
    pack = Positions.pack
    known = Positions(values={(): pack(1, 1), ("a",): pack(2, 3)}, keys={("a",): pack(2, 1)})
    assert known.of(("a", 1)) == (2, 3)
    assert known.of(("a",), key=True) == (2, 1)
    assert known.of(("b",), key=True) == (1, 1)


def test_the_limits_are_inclusive(tmp_path: Path) -> None:
    """100 levels of nesting are read; so are aliases that add exactly 200,000 values (200
    aliases of a 1,000-value list)."""
    assert load(tmp_path, "a: " + "[" * 99 + "]" * 99 + "\n") is not None

    def bomb(extra: str) -> str:
        return "a: &a [" + "1," * 999 + "]\nb: [" + "*a," * 200 + "]\n" + extra

    assert load(tmp_path, bomb("")) is not None
    with pytest.raises(ProjectFileError) as caught:
        load(tmp_path, bomb("s: &s 1\nt: *s\n"))  # one value more
    assert caught.value.message == "aliases add more than 200,000 values (an alias bomb?)"


def test_a_large_file_without_aliases_is_no_alias_bomb(tmp_path: Path) -> None:
    """5,000 deployments with 22 parameters each: 275,000 values, none from an alias (they
    were refused as "aliases expand to more than 200,000 values")."""
    parameters = ", ".join(f"p{k}: {k}" for k in range(22))
    deployment = f"- name: d\n  entrypoint: f.py:f\n  parameters: {{{parameters}}}\n"
    data = load(tmp_path, "deployments:\n" + deployment * 5_000)
    assert isinstance(data, dict)
    assert len(data["deployments"]) == 5_000
    assert data["deployments"][4_999]["parameters"]["p21"] == 21


def test_aliases_nest_values_up_to_the_limit(tmp_path: Path) -> None:
    """Each `lK: &lK [*l(K-1)]` is one level deeper than the last without any deep text."""

    def chain(count: int) -> str:
        return "l0: &l0 [x]\n" + "".join(f"l{k}: &l{k} [*l{k - 1}]\n" for k in range(1, count))

    assert load(tmp_path, chain(99)) is not None
    with pytest.raises(ProjectFileError) as caught:
        load(tmp_path, chain(100))
    assert caught.value.message == "aliases nest values more than 100 levels deep"


def _sized(path: Path, size: int) -> Path:
    with path.open("wb") as handle:
        handle.truncate(size)  # sparse: no time spent writing
    return path


def test_files_that_are_not_project_files_say_so_and_name_the_file(tmp_path: Path) -> None:
    cases = [
        (tmp_path, "is a directory, not a file"),
        (tmp_path / "nope.yaml", "no such file"),
        (_sized(tmp_path / "big.yaml", 10 * 1024 * 1024 + 60_000),
         "file is 10.1 MB; project files are read up to 5 MB"),
        (_sized(tmp_path / "limit.yaml", 5 * 1024 * 1024), "binary file, not YAML text"),
    ]  # fmt: skip
    for path, message in cases:
        with pytest.raises(ProjectFileError) as caught:
            load_file(path, "shown.yaml")
        assert (caught.value.message, caught.value.file) == (message, "shown.yaml")


def test_more_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ProjectFileError) as caught:
        load_file(tmp_path / "a-file" / "prefect.yaml", "shown.yaml")
    assert (caught.value.message, caught.value.file) == (
        "cannot read: Not a directory",
        "shown.yaml",
    )
    path = tmp_path / "prefect.yaml"
    path.write_bytes(b"\na: 1\nb: caf\xe9\n")
    with pytest.raises(ProjectFileError) as caught:
        load_file(path, "shown.yaml")
    error = caught.value
    assert (error.message, error.line, error.column, error.hint, error.file) == (
        "not valid UTF-8 (byte 0xe9)", 3, 7, "save the file as UTF-8", "shown.yaml")  # fmt: skip
    path.write_bytes(b"\nname: caf\xe9\n")
    with pytest.raises(ProjectFileError) as caught:
        load_file(path, "shown.yaml")
    assert (caught.value.line, caught.value.column) == (2, 10)


def test_only_the_first_8_kb_decide_whether_a_file_is_binary(tmp_path: Path) -> None:
    path = tmp_path / "prefect.yaml"
    path.write_bytes(b"#" * 8191 + b"\x00")
    with pytest.raises(ProjectFileError, match=r"^binary file, not YAML text$"):
        load_file(path)
    path.write_bytes(b"#" * 8192 + b"\x00")
    with pytest.raises(ProjectFileError) as caught:
        load_file(path, "shown.yaml")
    assert (caught.value.message, caught.value.file) == (
        "YAML error: unacceptable character #x0000: special characters are not allowed\n"
        '  in "<unicode string>", position 8192', "shown.yaml")  # fmt: skip


def test_a_byte_order_mark_is_not_part_of_the_text(tmp_path: Path) -> None:
    path = tmp_path / "prefect.yaml"
    path.write_bytes(b"\xef\xbb\xbfname: x\n")
    assert load_file(path).data == {"name": "x"}


@pytest.mark.parametrize(
    ("text", "message", "line", "column"),
    [
        ("a: &a [*a]\n", "recursive alias: a value contains itself", None, None),
        (
            "l0: &l0 [x]\n" + "".join(f"l{k}: &l{k} [*l{k - 1}]\n" for k in range(1, 100)),
            "aliases nest values more than 100 levels deep",
            None,
            None,
        ),
        (
            "a: &a [" + "1," * 999 + "]\nb: [" + "*a," * 201 + "]\n",
            "aliases add more than 200,000 values (an alias bomb?)",
            None,
            None,
        ),
        ("\n  - a\n  - b\n", "expected a mapping at the top level, got a list", 2, 3),
    ],
)
def test_whole_file_errors_name_the_file(
    tmp_path: Path, text: str, message: str, line: int | None, column: int | None
) -> None:
    path = tmp_path / "prefect.yaml"
    path.write_text(text)
    with pytest.raises(ProjectFileError) as caught:
        load_file(path)
    error = caught.value
    assert (error.message, error.file, error.line, error.column) == (
        message, str(path), line, column)  # fmt: skip


def test_a_loaded_file_knows_its_path_and_name(tmp_path: Path) -> None:
    path = tmp_path / "prefect.yaml"
    path.write_text("name: x\n")
    loaded = load_file(path)
    assert (loaded.path, loaded.display) == (path, str(path))
    assert load_file(path, "shown.yaml").display == "shown.yaml"


def test_depth_counts_down_when_a_collection_ends(tmp_path: Path) -> None:
    """`a: []` ends before `b` opens: b's 99 lists sit at levels 3 to 101 (x is level 2)."""
    with pytest.raises(ProjectFileError) as caught:
        load(tmp_path, "x:\n  a: []\n  b: " + "[" * 99 + "]" * 99 + "\n")
    assert (caught.value.message, caught.value.line, caught.value.column) == (
        "values nested more than 100 levels deep", 3, 104)  # fmt: skip
    assert load(tmp_path, "x:\n  a: []\n  b: " + "[" * 98 + "]" * 98 + "\n") is not None


def test_deep_nesting_after_what_only_the_pure_parser_reads(tmp_path: Path) -> None:
    """libyaml refuses `{b: x:y}` (PyYAML reads it), so the quick depth check cannot look past
    it; the pure parser then meets the deep value and the answer is the same."""
    path = tmp_path / "prefect.yaml"
    path.write_text("a: {b: x:y}\nc: " + "[" * 2000 + "]" * 2000 + "\n")
    with pytest.raises(ProjectFileError) as caught:
        load_file(path, "shown.yaml")
    assert (caught.value.message, caught.value.file) == (
        "values nested more than 100 levels deep", "shown.yaml")  # fmt: skip
