"""Files flowplan writes that may hold sensitive values (saved plans, crash logs): readable by
their owner alone from the moment they exist, and written atomically, so that a reader never
sees a partial file and a failed write leaves the old one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

MODE = 0o600


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` (mode 0600), replacing it whole; raises OSError."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as handle:
            os.fchmod(fd, MODE)  # mkstemp's 0600 already; said here, where it matters
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
