"""Files shipped with flowplan (schemas, recipes), found in the wheel or in a source checkout."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """`schemas` or `recipes`: inside the installed wheel, else at the source-tree root."""
    installed = _PACKAGE / "_data" / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent.parent / name


@cache
def project_schema() -> dict[str, Any]:
    """The JSON Schema of `prefect.yaml` (schemas/prefect.yaml.schema.json)."""
    with open(data_dir("schemas") / "prefect.yaml.schema.json", encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema
