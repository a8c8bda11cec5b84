"""Every shell example in README.md and docs/ runs, and prints what the page says it prints."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from tests.docs.examples import (
    REPO,
    SHELL_LANGUAGES,
    blocks,
    commands,
    expected_code,
    matches,
    pages,
    run_page,
)

RUNNABLE = [p for p in pages() if any(b.language == "console" and not b.skip for b in blocks(p))]


@pytest.mark.parametrize("page", RUNNABLE, ids=[str(p.relative_to(REPO)) for p in RUNNABLE])
def test_the_examples_of_a_page_print_what_it_says(page: Path, tmp_path: Path) -> None:
    assert run_page(page, tmp_path) == []


def test_the_docs_have_executed_examples() -> None:
    names = {p.name for p in RUNNABLE}
    assert {"README.md", "cli.md", "runtime.md"} <= names


def test_every_shell_block_is_executed_or_says_why_not() -> None:
    wrong, skipped = [], []
    for page in pages():
        for block in blocks(page):
            if block.skip:
                skipped.append(f"{block.page}:{block.line}: {block.skip}")
            elif block.language in SHELL_LANGUAGES and (
                block.language != "console" or not commands(block)
            ):
                wrong.append(f"{block.page}:{block.line}: ```{block.language}")
    assert wrong == [], "shell examples must be ```console blocks with '$ ' lines, or marked"
    assert len(skipped) <= 8, "examples not executed should be few:\n" + "\n".join(skipped)


def test_the_docs_name_no_file_outside_the_repository() -> None:
    """The one exception: the README's set-up says where `make test-corpus` finds the corpus."""
    outside = re.compile(r"\.\./shared|/work/|shared/corpus|PREFECT-COMPAT|DESIGN\.md|STYLE\.md")
    found = [f"{page.name}:{number}: {line.strip()}"
             for page in pages()
             for number, line in enumerate(page.read_text().splitlines(), start=1)
             if outside.search(line)]  # fmt: skip
    assert [line for line in found if "`make test-corpus`" not in line] == []
    assert len(found) == 1 and found[0].startswith("README.md:")


# -- the runner itself ---------------------------------------------------------------------


def test_ellipses_and_exit_codes() -> None:
    assert matches(["a", "...", "d"], "a\nb\nc\nd\n")
    assert matches(["a", "...", "d"], "a\nd")
    assert not matches(["a", "...", "d"], "a\nb\nc\n")
    assert matches(["id ... done"], "id 0b1c-22 done  \n")
    assert not matches(["id ... done"], "id 0b1c-22\ndone\n")
    assert not matches(["one"], "one\ntwo\n")
    assert not matches(["a.c"], "abc\n")  # only `...` is special
    assert expected_code(["error: x", "[1]", ""]) == (["error: x"], 1)
    assert expected_code(["fine"]) == (["fine"], 0)


def page(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "page.md"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_page_whose_output_is_right_passes(tmp_path: Path) -> None:
    doc = page(
        tmp_path,
        """
        ```python title="flows/hi.py"
        from flowplan import flow


        @flow
        def hi(): ...
        ```

        ```console
        $ flowplan flows ls --output json | grep -c '"name": "hi"'
        1
        $ mkdir sub && cd sub
        $ pwd
        /home/me/weather/sub
        $ flowplan validate
        error: prefect.yaml: no such file
        ...
        [1]
        ```
    """,
    )
    assert run_page(doc, tmp_path / "run") == []


def test_a_wrong_claim_fails_with_where_and_what(tmp_path: Path) -> None:
    doc = page(
        tmp_path,
        """
        ```console
        $ flowplan --version
        flowplan 9.9.9
        $ echo never reached
        ```
    """,
    )
    (mismatch,) = run_page(doc, tmp_path / "run")
    assert mismatch.startswith("page.md:3: $ flowplan --version\n")
    assert "flowplan 9.9.9" in mismatch and "flowplan 0.1.0" in mismatch


def test_a_wrong_exit_code_fails(tmp_path: Path) -> None:
    doc = page(
        tmp_path,
        """
        ```console
        $ flowplan validate
        ...
        ```
    """,
    )
    (mismatch,) = run_page(doc, tmp_path / "run")
    assert "(exit 0)" in mismatch and "(exit 1)" in mismatch


def test_a_block_marked_not_executed_is_left_alone(tmp_path: Path) -> None:
    doc = page(
        tmp_path,
        """
        <!-- not executed: needs a terminal -->
        ```console
        $ false
        ```
    """,
    )
    (block,) = blocks(doc)
    assert block.skip == "needs a terminal"
    assert run_page(doc, tmp_path / "run") == []
