"""`files.read_bytes`: regular files only, bounded by the bytes actually read, never blocking."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest

from flowplan import files


def _reason(path: Path | str, limit: int = files.MAX_BYTES) -> str:
    with pytest.raises(files.UnreadableFile) as caught:
        files.read_bytes(path, limit, "project files")
    return caught.value.reason


def test_a_regular_file_is_read_whole_up_to_the_limit(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"x" * 100)
    assert files.read_bytes(tmp_path / "a.txt", 100) == b"x" * 100
    assert (
        _reason(tmp_path / "a.txt", 99)
        == "file is 100 bytes; project files are read up to 99 bytes"
    )


def test_the_limit_counts_bytes_read_not_the_size_the_file_reports() -> None:
    # /proc files say they are empty (st_size 0) and are regular: only reading finds the size
    assert Path("/proc/self/status").stat().st_size == 0
    assert _reason("/proc/self/status", 100) == (
        "file is larger than 100 bytes; project files are read up to 100 bytes"
    )


def test_devices_fifos_sockets_and_directories_are_refused_without_reading(
    tmp_path: Path,
) -> None:
    os.mkfifo(tmp_path / "fifo")  # no writer: opening it for reading would block
    (tmp_path / "zero").symlink_to("/dev/zero")
    # a socket's path is at most 107 bytes: a short directory rather than tmp_path
    with tempfile.TemporaryDirectory(dir="/tmp") as short, socket.socket(socket.AF_UNIX) as server:
        server.bind(f"{short}/s")
        assert _reason(f"{short}/s") == "is a socket, not a regular file"
    assert _reason(tmp_path / "fifo") == "is a FIFO (named pipe), not a regular file"
    assert _reason("/dev/zero") == "is a character device, not a regular file"
    assert _reason(tmp_path / "zero") == "is a character device, not a regular file"
    assert _reason(tmp_path) == "is a directory, not a file"
    assert _reason(tmp_path / "nope") == "no such file"


def test_read_text_drops_a_bom_and_refuses_what_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "bom").write_bytes(b"\xef\xbb\xbfname: x\n")
    (tmp_path / "latin").write_bytes(b"caf\xe9")
    assert files.read_text(tmp_path / "bom") == "name: x\n"
    with pytest.raises(files.UnreadableFile, match="is not UTF-8 text"):
        files.read_text(tmp_path / "latin")


def test_no_module_reads_a_file_but_through_files_py() -> None:
    """`Path.read_text` / `read_bytes` trust nothing and bound nothing: only files.py reads
    (shipped schemas are opened with `open`, which this does not look for)."""
    import ast

    package = Path(files.__file__).parent
    found = []
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("read_text", "read_bytes"):
                is_ours = isinstance(node.value, ast.Name) and node.value.id == "files"
                if not is_ours and path.name != "files.py":
                    found.append(f"{path.relative_to(package)}:{node.lineno}")
    assert found == []
