"""The child `with_prefect` runs code in gets Prefect, pydantic and Prefect's own versions of
the packages both environments have; the test process stays without them."""

from __future__ import annotations

import importlib.util
import sys

from tests.runtime.with_prefect import prefect_site_packages, with_prefect


def test_the_child_imports_prefect_and_what_it_needs_from_the_prefect_environment() -> None:
    import httpx  # imported here first, from the test environment

    def where() -> dict[str, str]:
        import anyio
        import httpx
        import prefect
        import pydantic

        return {module.__name__: str(module.__file__) for module in (prefect, pydantic, httpx,
                                                                     anyio)}  # fmt: skip

    found = with_prefect(where)
    packages = str(prefect_site_packages())
    assert sorted(found) == ["anyio", "httpx", "prefect", "pydantic"]
    assert all(path.startswith(packages + "/") for path in found.values()), found
    assert not httpx.__file__.startswith(packages)
    assert importlib.util.find_spec("prefect") is None and "prefect" not in sys.modules
    assert importlib.util.find_spec("pydantic") is None
