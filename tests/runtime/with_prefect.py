"""Code that needs Prefect or pydantic, run in the test's own process image: `with_prefect(action)`
forks the test process, makes `.venv-prefect`'s packages (the real Prefect 3 and its pydantic)
importable in the child, runs `action` there and returns what it returned (or raises an
AssertionError with the child's traceback).

Why a fork and not `.venv-prefect`'s Python: mutmut 3 chooses a mutant's tests by the functions
each test runs in its own process, and runs a mutant by the mutated copy imported in that
process. A forked child has both (the functions it ran are handed back to mutmut, as
`tests/runtime/test_forkserver.py` does). The test environment itself stays without Prefect and
pydantic: nothing else in the suite can import them by accident.

`.venv-prefect` is made by `make test` (scripts/prefect-venv.sh); FLOWPLAN_TEST_PREFECT_PYTHON
names another one's Python (as for the oracle tests; `make mutation` sets it for its copy). When
it is missing, or made with another Python version, the test fails."""

from __future__ import annotations

import os
import pickle
import select
import signal
import site
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from tests.oracle.harness import PREFECT_PYTHON

T = TypeVar("T")
LIMIT = 300  # seconds a child may take (the slowest takes about 10 on a loaded machine)


def prefect_site_packages() -> Path:
    """`.venv-prefect`'s site-packages (for this process's Python version: its compiled
    packages, such as pydantic-core, are loaded into this process)."""
    venv = PREFECT_PYTHON.parent.parent
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    found = venv / "lib" / version / "site-packages"
    assert PREFECT_PYTHON.exists(), (
        f"{PREFECT_PYTHON} is missing: 'make test' builds it (scripts/prefect-venv.sh)"
    )
    assert (found / "prefect").is_dir(), (
        f"{found} has no Prefect: {venv} was not made with this tests' Python ({version})"
    )
    return found


def _use_prefect_packages(packages: Path) -> None:
    """In the child: `packages` before this environment's site-packages, and the modules this
    process already imported from a distribution both have dropped, so that Prefect gets its
    own versions of them (the child never returns to pytest)."""
    own = {str(path) for found in site.getsitepackages() for path in (found, Path(found).resolve())}
    both = {entry.name.partition(".")[0] for entry in packages.iterdir()}  # (x.py, x.cpython-*.so)
    for name, module in list(sys.modules.items()):
        where = getattr(module, "__file__", None) or ""
        if name.partition(".")[0] in both and any(where.startswith(path) for path in own):
            del sys.modules[name]
    index = min([i for i, entry in enumerate(sys.path) if entry in own
                 or str(Path(entry).resolve()) in own] or [len(sys.path)])  # fmt: skip
    sys.path.insert(index, str(packages))


def with_prefect(action: Callable[[], T]) -> T:
    """`action()` in a forked child where Prefect and pydantic can be imported."""
    packages = prefect_site_packages()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # never back into pytest from here, whatever `action` does
        code = 70
        try:
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(LIMIT)  # a child that hangs ends (also when mutmut ends the test)
            os.close(read)
            os.environ.update(DO_NOT_TRACK="1", PREFECT_LOGGING_LEVEL="CRITICAL")
            _use_prefect_packages(packages)
            try:
                outcome: tuple[str, Any] = ("value", action())
            except BaseException:
                outcome = ("error", traceback.format_exc())
            stats = sys.modules.get("mutmut.state")
            hits = sorted(stats.state()._stats) if stats is not None else []
            try:
                data = pickle.dumps((outcome, hits))
            except Exception:
                data = pickle.dumps((("error", traceback.format_exc()), hits))
            _write_all(write, data)
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = _read_all(pipe, pid)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    assert code == 0 and data, f"the child exited with {code} and no answer"
    (kind, value), hits = pickle.loads(data)  # (from our own child)
    stats = sys.modules.get("mutmut.state")
    if stats is not None:
        stats.state()._stats.update(hits)
    if kind == "error":
        raise AssertionError(f"in the child with Prefect:\n{value}")
    return value  # type: ignore[no-any-return]


def _read_all(pipe: BinaryIO, pid: int) -> bytes:
    """What the child wrote until it closed its end; killed when it has not in LIMIT seconds
    (it stops itself then: this is only a second line)."""
    chunks, deadline = [], time.monotonic() + LIMIT + 30
    while select.select([pipe], [], [], max(deadline - time.monotonic(), 0))[0]:
        chunk = os.read(pipe.fileno(), 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
    os.kill(pid, signal.SIGKILL)
    return b""


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]
    os.close(descriptor)
