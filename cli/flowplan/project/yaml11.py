"""Plain scalars resolved exactly as PyYAML resolves them (what Prefect's `yaml.safe_load`
sees), for ruamel.yaml's composer.

ruamel's YAML 1.1 rules differ from PyYAML's in a few places that real files hit: `y`, `Y`, `n`
and `N` are booleans there (text in PyYAML, so a key `y:` stays "y"), and a float needs no dot
or exponent sign there (`1e3` and `1.0e3` are text in PyYAML). This resolver uses PyYAML's
rules: the same patterns, tried in the same order, chosen by the first character.
"""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml.resolver import VersionedResolver

_PREFIX = "tag:yaml.org,2002:"
# (tag, pattern, first characters), in PyYAML's order of registration
_RULES: list[tuple[str, str, str | list[str]]] = [
    ("bool", r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
     "yYnNtTfFoO"),
    ("float", r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?"
              r"|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
              r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*"
              r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+0123456789."),
    ("int", r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+"
            r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$", "-+0123456789"),
    ("merge", r"^(?:<<)$", "<"),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("timestamp", r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
                  r"|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?"
                  r":[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?"
                  r"(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$", "0123456789"),
    ("value", r"^(?:=)$", "="),
    ("yaml", r"^(?:!|&|\*)$", "!&*"),
]  # fmt: skip


def _table() -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    table: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}
    for tag, pattern, first in _RULES:
        compiled = re.compile(pattern)
        for character in first:
            table.setdefault(character, []).append((_PREFIX + tag, compiled))
    return table


_TABLE = _table()


class PyYAMLResolver(VersionedResolver):
    """ruamel's resolver with PyYAML's implicit rules for plain scalars."""

    @property
    def versioned_resolver(self) -> Any:
        # asked once per scalar: a copy made once per resolver (ruamel may add rules to it)
        table = self.__dict__.get("_pyyaml_table")
        if table is None:
            table = self.__dict__["_pyyaml_table"] = {key: list(r) for key, r in _TABLE.items()}
        return table
