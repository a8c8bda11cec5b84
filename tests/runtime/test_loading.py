"""Loading a deployment's entrypoint as the run's process does (here in this process, from
files the test writes): what is called and with which retries and timeout, and the errors that
name what is wrong."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowplan.errors import FlowplanError
from flowplan.runtime.loading import describe, load_entrypoint

SOURCE = """
from flowplan import flow

@flow(retries=2, retry_delay_seconds=1.5, timeout_seconds=30)
def main(n: int = 1):
    return n * 2

@flow
def bare():
    return "bare"

async def plain(x):
    return x

VALUE = 3
"""


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project with flows/<unique>.py and <unique>_pkg/mod.py (unique: this process keeps
    the modules it imported)."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "flows").mkdir()
    (tmp_path / f"{STEM}_pkg").mkdir()
    (tmp_path / "flows" / f"{STEM}.py").write_text(SOURCE)
    (tmp_path / f"{STEM}_pkg" / "__init__.py").write_text("")
    (tmp_path / f"{STEM}_pkg" / "mod.py").write_text(SOURCE)
    yield tmp_path
    for name in [name for name in sys.modules if name.startswith(STEM)]:
        del sys.modules[name]


STEM = f"loading_{uuid.uuid4().hex[:8]}"


def test_a_flow_is_called_through_its_function_with_its_retries_and_timeout(root: Path) -> None:
    loaded = load_entrypoint(f"flows/{STEM}.py:main", root)
    assert loaded.fn(n=4) == 8 and loaded.fn is loaded.source.fn
    assert (loaded.retries, loaded.retry_delay_seconds, loaded.timeout_seconds) == (2, 1.5, 30)
    assert loaded.is_async is False
    bare = load_entrypoint(f"flows/{STEM}.py:bare", root)
    assert (bare.retries, bare.retry_delay_seconds, bare.timeout_seconds) == (0, 0, None)
    assert bare.fn() == "bare"


def test_a_plain_function_is_called_as_it_is_and_modules_load_by_name(root: Path) -> None:
    loaded = load_entrypoint(f"{STEM}_pkg.mod.plain", root)
    assert loaded.source is loaded.fn and loaded.is_async is True
    assert (loaded.retries, loaded.retry_delay_seconds, loaded.timeout_seconds) == (0, 0, None)
    assert load_entrypoint(f"{STEM}_pkg.mod.main", root).retries == 2


def test_entrypoints_that_cannot_be_loaded_say_why(root: Path, tmp_path: Path) -> None:
    def refused(entrypoint: str) -> str:
        with pytest.raises(FlowplanError) as caught:
            load_entrypoint(entrypoint, root)
        return str(caught.value)

    assert refused("main") == "entrypoint 'main' names no module or file"
    assert refused(f"{STEM}_none.main").startswith(f"cannot import '{STEM}_none' from {root}: ")
    assert refused("../elsewhere.py:main") == (
        f"entrypoint file '../elsewhere.py' is outside the project {root}")  # fmt: skip
    assert refused("flows/nope.py:main") == f"entrypoint file 'flows/nope.py' not found in {root}"
    assert refused(f"flows/{STEM}.py:gone") == (
        f"entrypoint 'flows/{STEM}.py:gone': no function 'gone' in that module")  # fmt: skip
    assert refused(f"flows/{STEM}.py:VALUE") == "the entrypoint is a int, not a flow or function"
    with pytest.raises(FlowplanError, match="the entrypoint is a str, not a flow or function"):
        describe("text")


def test_a_flow_file_imports_its_neighbours_and_the_projects_packages_first(
    root: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # a module of the same name elsewhere, ahead on the path: the project's wins
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / f"{STEM}_near.py").write_text("WHO = 'elsewhere'\n")
    sys.path.insert(0, str(elsewhere))
    (root / "flows" / f"{STEM}_near.py").write_text("WHO = 'neighbour'\n")
    (root / "flows" / f"{STEM}_uses.py").write_text(
        f"import {STEM}_near\nfrom {STEM}_pkg import mod\n"
        f"def main():\n    return {STEM}_near.WHO, mod.VALUE\n"
    )
    loaded = load_entrypoint(f"flows/{STEM}_uses.py:main", root)
    assert loaded.fn() == ("neighbour", 3)


def test_a_module_entrypoint_comes_from_the_project_first(
    root: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / f"{STEM}_top.py").write_text("def main():\n    return 'elsewhere'\n")
    sys.path.insert(0, str(elsewhere))
    (root / f"{STEM}_top.py").write_text("def main():\n    return 'project'\n")
    assert load_entrypoint(f"{STEM}_top.main", root).fn() == "project"


def test_a_flow_file_can_define_dataclasses_and_a_path_can_hold_a_colon(root: Path) -> None:
    (root / "we:ird").mkdir()
    (root / "we:ird" / f"{STEM}_dc.py").write_text(
        "from __future__ import annotations\nimport dataclasses\n\n"
        "@dataclasses.dataclass\nclass Point:\n    x: int\n\n"
        "def main(p: Point) -> int:\n    return p.x\n"
    )
    loaded = load_entrypoint(f"we:ird/{STEM}_dc.py:main", root)
    assert loaded.fn(sys.modules[f"{STEM}_dc"].Point(4)) == 4


def test_an_object_with_a_function_but_no_settings_gets_the_defaults() -> None:
    class Wrapper:
        def fn(self) -> str:
            return "called"

    loaded = describe(Wrapper())
    assert (loaded.retries, loaded.retry_delay_seconds, loaded.timeout_seconds) == (0, 0, None)
    assert loaded.fn() == "called"
