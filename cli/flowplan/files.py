"""Reading a user's file without trusting it: regular files only, never more than a limit.

Every file a user names or a scan finds (project files, flow sources, plan files, job templates,
ignore files) is read here. The size a file reports (`st_size`) is not trusted: it is 0 for
`/dev/zero`, and a file can grow while it is read; the limit counts the bytes actually read.
Devices, FIFOs and sockets are refused before anything is read, and the file is opened with
`O_NONBLOCK`, so a FIFO swapped in after the check cannot block the open either.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MB = 1024 * 1024
MAX_BYTES = 5 * MB  # real project files and flow sources are a few kB; the largest known 60 kB
_CHUNK = 1 * MB

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class UnreadableFile(Exception):
    """Why a file was not read (a short reason, without the file's name: callers add it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _refuse_special(mode: int) -> None:
    """Raise for anything but a regular file, saying what it is ("a FIFO (named pipe)")."""
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise UnreadableFile("is a directory, not a file")
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    raise UnreadableFile(f"is {kind}, not a regular file")


def read_bytes(path: Path | str, limit: int = MAX_BYTES, what: str = "files") -> bytes:
    """The content of the regular file `path` (symlinks followed), at most `limit` bytes.

    Raises UnreadableFile with the reason: missing, permission denied, not a regular file
    (and what it is instead), larger than `limit` ("... {what} are read up to 5 MB"), or the
    operating system's error.
    """
    try:
        info = Path(path).stat()
        _refuse_special(info.st_mode)
        if info.st_size > limit:  # a cheap early answer; the read below enforces the limit
            raise UnreadableFile(
                f"file is {_size(info.st_size)}; {what} are read up to {_size(limit)}"
            )
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | os.O_CLOEXEC
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise UnreadableFile("no such file") from None
    except PermissionError:
        raise UnreadableFile("permission denied") from None
    except OSError as exc:
        raise UnreadableFile(f"cannot read: {exc.strerror or exc}") from None
    try:
        _refuse_special(os.fstat(fd).st_mode)  # it may have been replaced since the check
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, min(_CHUNK, limit + 1 - total)):
            total += len(chunk)
            if total > limit:
                raise UnreadableFile(
                    f"file is larger than {_size(limit)}; {what} are read up to {_size(limit)}"
                )
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise UnreadableFile(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_text(path: Path | str, limit: int = MAX_BYTES, what: str = "files") -> str:
    """`read_bytes` decoded as UTF-8 (a BOM dropped); UnreadableFile when it is not UTF-8."""
    raw = read_bytes(path, limit, what)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableFile("is not UTF-8 text") from None


def _size(count: int) -> str:
    """5 MB (a limit), 10.1 MB (a file's size), 99 bytes (a small one)."""
    if count % MB == 0 and count:
        return f"{count // MB} MB"
    return f"{count / MB:.1f} MB" if count >= MB // 10 else f"{count} bytes"
