"""Forked processes that open one store at the same instant (shared by a test and bench/)."""

from __future__ import annotations

import os
import traceback
from pathlib import Path


def open_at_once(path: Path, processes: int) -> list[str]:
    """Fork `processes` children, release them together (they block on one pipe until it
    closes), and have each open the store at `path` and write one variable. Returns the
    failures, one text per failed child."""
    from flowplan.backends.local import LocalBackend

    read_end, write_end = os.pipe()
    children: dict[int, Path] = {}
    for index in range(processes):
        report = path.parent / f"failure-{index}.txt"
        pid = os.fork()
        if pid == 0:  # the child
            code = 0
            try:
                os.close(write_end)
                os.read(read_end, 1)  # returns when the parent closes its end
                backend = LocalBackend(path)
                backend.set_variable(f"v{index}", index, overwrite=True)
                backend.read_variables()
            except BaseException:
                report.write_text(traceback.format_exc())
                code = 1
            os._exit(code)
        children[pid] = report
    os.close(read_end)
    os.close(write_end)  # go
    failures = []
    for pid, report in children.items():
        _, status = os.waitpid(pid, 0)
        if status != 0:
            text = report.read_text() if report.exists() else f"exit status {status}"
            failures.append(text)
    return failures
