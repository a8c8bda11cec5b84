"""Generated flow decorators for the flow metadata suite: names from literals, module
constants, f-strings and `+` of constants, imported project constants; descriptions from the
decorator or the docstring; versions given or not."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

HEADER = """from prefect import flow
from helpers import LIMIT, TEAM

PREFIX = "etl"
SUFFIX = "daily"
DESCRIPTION = "Loads the warehouse."
VERSION = "2.1"
"""

NAMES = [None, '"my-flow"', '"My Flow"', "PREFIX", 'f"{PREFIX}-{SUFFIX}"', 'PREFIX + "-x"',
         'f"{TEAM}-loader"', "TEAM", 'f"static"', 'f"{PREFIX}"', '"a_b"', 'f"{PREFIX!s}-{LIMIT}"',
         'PREFIX.upper()']  # fmt: skip
DESCRIPTIONS = [None, '"Given."', "DESCRIPTION", 'f"{PREFIX} flow"', '""', "DESCRIPTION.lower()"]
VERSIONS = [None, '"1.0"', "VERSION", 'f"v{VERSION}"', "None", "str(LIMIT)"]
DOCSTRINGS = [None, '"""One line."""',
              '"""Summary.\n\n    Details, indented.\n        More indented.\n    """',
              "'''Single quotes.'''", '"""\n    Starts on the next line.\n    """']  # fmt: skip
FUNCTIONS = ["generated", "load_all_rows", "etl"]


@st.composite
def flow_module(draw: st.DrawFn) -> dict[str, Any]:
    keywords = []
    for key, options in (("name", NAMES), ("description", DESCRIPTIONS), ("version", VERSIONS)):
        value = draw(st.sampled_from(options))
        if value is not None:
            keywords.append(f"{key}={value}")
    form = draw(st.sampled_from(["call", "bare"])) if not keywords else "call"
    decorator = "@flow" if form == "bare" else f"@flow({', '.join(keywords)})"
    function = draw(st.sampled_from(FUNCTIONS))
    docstring = draw(st.sampled_from(DOCSTRINGS))
    body = f"    {docstring}\n" if docstring else "    pass\n"
    return {"module": HEADER + f"\n\n{decorator}\ndef {function}():\n{body}",
            "function": function}  # fmt: skip


def cases() -> st.SearchStrategy[dict[str, Any]]:
    return flow_module()
