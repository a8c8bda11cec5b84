from __future__ import annotations

from pathlib import Path

from flowplan.discovery.flows import discover
from flowplan.discovery.ignore import IgnoreFile, is_ignored, parse_rules
from tests.conftest import write


def test_decorator_forms_and_aliases(tmp_path: Path) -> None:
    write(tmp_path, {
        "a.py": "from prefect import flow\n@flow\ndef plain(): ...\n@flow(name='Named One', retries=2)\ndef called(): ...\n",
        "b.py": "import prefect as p\n@p.flow\nasync def aliased_module(x: int): ...\n",
        "c.py": "from prefect import flow as f\n@f()\ndef aliased_name(): ...\n",
        "d.py": "import flowplan\n@flowplan.flow\ndef ours(): ...\n",
        "e.py": "from mylib import flow\n@flow\ndef not_prefect(): ...\n",
        "f.py": "import prefect\n@prefect.task\ndef a_task(): ...\n",
    })  # fmt: skip
    flows, problems = discover(tmp_path)
    assert problems == []
    assert [(f.name, f.entrypoint, f.is_async) for f in flows] == [
        ("plain", "a.py:plain", False),
        ("Named One", "a.py:called", False),
        ("aliased-module", "b.py:aliased_module", True),
        ("aliased-name", "c.py:aliased_name", False),
        ("ours", "d.py:ours", False),
    ]


def test_ignore_files_virtualenvs_and_order(tmp_path: Path) -> None:
    flow = "from prefect import flow\n@flow\ndef f(): ...\n"
    write(tmp_path, {
        ".gitignore": "build/\n*_gen.py\n!keep_gen.py\n",
        ".prefectignore": "scratch/**\n",
        "z/flow.py": flow, "a/flow.py": flow, "build/flow.py": flow, "x_gen.py": flow,
        "keep_gen.py": flow, "scratch/deep/flow.py": flow, "env/pyvenv.cfg": "",
        "env/lib/flow.py": flow, "node_modules/flow.py": flow, ".venv/flow.py": flow,
        "sub/.gitignore": "local.py\n", "sub/local.py": flow, "sub/other.py": flow,
    })  # fmt: skip
    flows, _ = discover(tmp_path)
    assert [f.path for f in flows] == ["a/flow.py", "keep_gen.py", "sub/other.py", "z/flow.py"]


def test_gitignore_patterns() -> None:
    ignore = IgnoreFile(
        "", tuple(parse_rules("/top.py\ndocs/**/gen\n**/cache\n*.py[co]\n\\#lit\n"))
    )
    assert is_ignored([ignore], "top.py", False)
    assert not is_ignored([ignore], "sub/top.py", False)
    assert is_ignored([ignore], "docs/a/b/gen", True)
    assert is_ignored([ignore], "docs/gen", True)
    assert is_ignored([ignore], "x/y/cache", True)
    assert is_ignored([ignore], "m.pyc", False)
    assert is_ignored([ignore], "#lit", False)


def test_broken_files_are_reported_not_fatal(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "bad.py": "from prefect import flow\n@flow\ndef f(:\n",
            "ok.py": "from prefect import flow\n@flow\ndef g(): ...\n",
        },
    )
    (tmp_path / "latin.py").write_bytes(
        b"from prefect import flow\nx = 'caf\xe9'\n@flow\ndef h(): ...\n"
    )
    flows, problems = discover(tmp_path)
    assert [f.entrypoint for f in flows] == ["ok.py:g"]
    assert [p.render() for p in problems] == [
        "bad.py:3:7: syntax error: invalid syntax",
        "latin.py:2:11: syntax error: (unicode error) 'utf-8' codec can't decode byte 0xe9 in position 3: unexpected end of data",
    ]


def test_parameter_schema(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
from enum import Enum
from typing import Literal, Optional, Union
import prefect


class Color(str, Enum):
    RED = "red"
    BLUE = "blue"


@prefect.flow
def f(a: int, b: Optional[str] = None, c: list[int] = [1], d: dict[str, float] = {},
      e: Literal["x", "y"] = "x", g: Color = Color.RED, h: "bool" = True, i: int | None = 3,
      j: Union[int, str] = 1, k=object(), *, kw: float = 1.5, **rest):
    '''Doc.'''
"""})  # fmt: skip
    [flow] = discover(tmp_path)[0]
    assert flow.description == "Doc." and flow.accepts_any_keyword
    schema = flow.schema()
    assert schema["required"] == ["a"]
    props = schema["properties"]
    assert props["a"] == {"title": "a", "position": 0, "type": "integer"}
    assert props["b"] == {
        "title": "b",
        "position": 1,
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "default": None,
    }
    assert props["c"] == {
        "title": "c",
        "position": 2,
        "type": "array",
        "items": {"type": "integer"},
        "default": [1],
    }
    assert props["d"]["additionalProperties"] == {"type": "number"}
    assert props["e"]["enum"] == ["x", "y"]
    assert props["g"] == {"title": "g", "position": 5, "$ref": "#/definitions/Color",
                          "default": "red"}  # fmt: skip
    assert schema["definitions"] == {
        "Color": {"enum": ["red", "blue"], "title": "Color", "type": "string"}
    }
    assert props["h"]["type"] == "boolean"
    assert props["i"]["anyOf"] == [{"type": "integer"}, {"type": "null"}]
    assert props["j"]["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert props["k"] == {"title": "k", "position": 9}  # object(): no JSON default
    assert flow.schema_problems == (
        "parameter 'k': its default (object()) cannot be read without running the code, so the"
        " schema has no default for it",
    )
    assert props["kw"] == {"title": "kw", "position": 10, "type": "number", "default": 1.5}
    assert props["rest"] == {"title": "rest", "position": 11, "type": "object",
                             "additionalProperties": True, "default": {}}  # fmt: skip


def test_a_flow_decorator_re_exported_by_the_project(tmp_path: Path) -> None:
    write(tmp_path, {
        "lib/__init__.py": "",
        "lib/compat.py": "from prefect import flow, task\n",
        "lib/deeper.py": "from lib.compat import flow\n",
        "flows/a.py": "from lib.compat import flow\n@flow\ndef via_compat(): ...\n",
        "flows/b.py": "from lib.deeper import flow as f\n@f(name='deep')\ndef via_two(): ...\n",
        "lib/c.py": "from .compat import flow\n@flow\ndef relative(): ...\n",
        "flows/d.py": "from lib.nothing import flow\n@flow\ndef missing(): ...\n",
    })  # fmt: skip
    flows, _ = discover(tmp_path)
    assert [(f.name, f.entrypoint) for f in flows] == [
        ("via-compat", "flows/a.py:via_compat"),
        ("deep", "flows/b.py:via_two"),
        ("relative", "lib/c.py:relative"),
    ]


def test_names_descriptions_and_versions_read_as_prefect_would(tmp_path: Path) -> None:
    import hashlib

    source = (
        "from prefect import flow\n"
        "PREFIX = 'etl'\n"
        "NAME = PREFIX + '-daily'\n"
        "@flow(name=NAME)\ndef a(): ...\n"
        "@flow(name=f'plain-fstring', description='From the decorator.', version='2.1')\n"
        "def b():\n    'Docstring loses to description=.'\n"
        "@flow(name=PREFIX + f'-x')\ndef c():\n    'Docstring.'\n"
        "import os\n@flow(name=os.environ['FLOW'])\ndef d(): ...\n"
        "@flow(name=f'{PREFIX}-{1}')\ndef e(): ...\n"
    )
    write(tmp_path, {"f.py": source})
    flows, _ = discover(tmp_path)
    digest = hashlib.md5(source.encode()).hexdigest()
    assert [(f.name, f.description, f.version, f.name_problem) for f in flows] == [
        ("etl-daily", None, digest, None),
        ("plain-fstring", "From the decorator.", "2.1", None),
        ("etl-x", "Docstring.", digest, None),
        ("d", None, digest,
         "the flow name (os.environ['FLOW']) cannot be read without running the code"),
        ("etl-1", None, digest, None),  # an f-string of constants, as Python writes it
    ]  # fmt: skip


def test_enum_members_that_only_running_the_code_knows_leave_the_parameter_open(
    tmp_path: Path,
) -> None:
    write(tmp_path, {"f.py": (
        "from enum import Enum, StrEnum, auto\nfrom prefect import flow\n"
        "class Mode(Enum):\n    FAST = auto()\n    SLOW = auto()\n"
        "class Color(StrEnum):\n    RED = auto()\n"
        "class Built(Enum):\n    A = 'a'.upper()\n"
        "@flow\ndef f(mode: Mode, color: Color, built: Built): ...\n"
    )})  # fmt: skip
    (flow,) = discover(tmp_path)[0]
    schema = flow.schema()
    assert schema["definitions"]["Mode"]["enum"] == [1, 2]
    assert schema["definitions"]["Color"]["enum"] == ["red"]
    assert schema["properties"]["built"] == {"title": "built", "position": 2}
    assert "Built" not in schema["definitions"]
    assert flow.schema_problems == (
        "parameter 'built': the type 'Built' has members with computed values: its schema cannot"
        " be known without running the code, so the parameter takes any value here",
    )


def test_types_and_constants_imported_from_the_project_are_read_there(tmp_path: Path) -> None:
    write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/settings.py": "from typing import Literal\nLIMIT = 10\nMode = Literal['a', 'b']\n",
        "pkg/models.py": "from pydantic import BaseModel\nclass Extra(BaseModel):\n"
                         "    level: int = 1\n",
        "pkg/flows.py": "from prefect import flow\nfrom pkg.settings import LIMIT, Mode\n"
                        "from .models import Extra\nfrom elsewhere import Thing\n"
                        "@flow\ndef f(n: int = LIMIT, mode: Mode = 'a', extra: Extra = None,"
                        " thing: Thing = None): ...\n",
    })  # fmt: skip
    (flow,) = discover(tmp_path)[0]
    schema = flow.schema()
    assert schema["properties"]["n"]["default"] == 10
    assert schema["properties"]["mode"]["enum"] == ["a", "b"]
    assert schema["properties"]["extra"]["$ref"] == "#/definitions/Extra"
    assert schema["definitions"]["Extra"]["properties"]["level"]["default"] == 1
    assert schema["properties"]["thing"] == {"title": "thing", "position": 3, "default": None}
    assert flow.schema_problems == (
        "parameter 'thing': the type 'Thing' is defined elsewhere: its schema cannot be known"
        " without running the code, so the parameter takes any value here",
    )
