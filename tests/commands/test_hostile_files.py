"""Files that are not what they say (devices, FIFOs, links to /dev/zero, huge or deeply nested
sources) get a message and exit 1, or are reported and skipped, without blocking or reading
without limit. Each command runs in a subprocess under a 1 GB memory cap (the old code read
/dev/zero until the kernel killed it, and waited forever on a FIFO); the timeout only guards
against a hang, it measures nothing."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

DEEP = "+".join(["1"] * 200_000)  # parses in Python's parser only past its recursion limit
FLOWS = "from prefect import flow\n\n@flow\ndef ok(x: int = 1): ...\n"


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def flowplan(cwd: Path, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "300", "PYTHONPATH": str(REPO / "cli")}
    done = subprocess.run(
        [sys.executable, "-m", "flowplan", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, preexec_fn=_capped,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """A project whose sources include every kind of file discovery must survive."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "ok.py").write_text(FLOWS)
    (root / "deco.py").write_text(f"from prefect import flow\n@flow(name={DEEP})\ndef f(): ...\n")
    (root / "dflt.py").write_text(f"from prefect import flow\n@flow\ndef g(x={DEEP}): ...\n")
    (root / "bin.py").write_bytes(b"\x00\x01\x02\xff")
    (root / "big.py").write_text(FLOWS + "# padding\n" * 60_000)
    os.mkfifo(root / "fifo.py")
    (root / "zero.py").symlink_to("/dev/zero")
    return root


def test_flows_ls_reports_and_skips_what_it_cannot_read(hostile: Path) -> None:
    code, out, err = flowplan(hostile, "flows", "ls")
    assert code == 0, err
    assert "ok.py:ok" in out
    assert err.splitlines() == [
        "warning: big.py: file is 585 kB; flowplan parses flow sources up to 512 kB (skipped)",
        "warning: bin.py: binary file, not Python source (skipped)",
        "warning: deco.py: cannot parse: nested too deeply (an expression or block is too large"
        " to read) (skipped)",
        "warning: dflt.py: cannot parse: nested too deeply (an expression or block is too large"
        " to read) (skipped)",
        "warning: fifo.py: is a FIFO (named pipe), not a regular file (skipped)",
        "warning: zero.py: is a character device, not a regular file (skipped)",
    ]


def test_validate_names_each_entrypoint_it_cannot_check(hostile: Path) -> None:
    names = ["deco.py:f", "dflt.py:g", "fifo.py:f", "zero.py:f", "bin.py:f", "big.py:ok"]
    (hostile / "prefect.yaml").write_text(
        "deployments:\n"
        + "".join(f"  - name: d{i}\n    entrypoint: {name}\n" for i, name in enumerate(names))
    )
    code, out, err = flowplan(hostile, "validate")
    assert code == 1, err
    deep = "cannot parse: nested too deeply (an expression or block is too large to read)"
    assert out.splitlines() == [
        f"error: prefect.yaml:3:17: deployments[0].entrypoint: cannot check the flow: deco.py: {deep}",
        f"error: prefect.yaml:5:17: deployments[1].entrypoint: cannot check the flow: dflt.py: {deep}",
        "error: prefect.yaml:7:17: deployments[2].entrypoint: cannot check the flow: fifo.py: is a"
        " FIFO (named pipe), not a regular file",
        "error: prefect.yaml:9:17: deployments[3].entrypoint: entrypoint 'zero.py:f' leaves the"
        f" project root (the project root is {hostile})",
        "error: prefect.yaml:11:17: deployments[4].entrypoint: cannot check the flow: bin.py:"
        " binary file, not Python source",
        "error: prefect.yaml:13:17: deployments[5].entrypoint: cannot check the flow: big.py: file"
        " is 585 kB; flowplan parses flow sources up to 512 kB",
        "6 errors, 0 warnings in 1 file.",
    ]


def test_project_files_that_are_devices_or_fifos_are_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "prefect.yaml")
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    code, out, _ = flowplan(tmp_path, "validate", "--prefect-file", "/dev/zero")
    assert (code, out.splitlines()[0]) == (
        1,
        "error: /dev/zero: is a character device, not a regular file",
    )
    code, out, _ = flowplan(tmp_path, "validate")
    assert (code, out.splitlines()[0]) == (
        1,
        "error: prefect.yaml: is a FIFO (named pipe), not a regular file",
    )
    code, out, _ = flowplan(tmp_path, "plan", "--prefect-file", "zero.yaml")
    assert (code, out.splitlines()[0]) == (
        1,
        "error: zero.yaml: is a character device, not a regular file",
    )


def test_plan_files_and_templates_that_are_devices_or_fifos_are_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "plan.json")
    (tmp_path / "prefect.yaml").write_text("deployments: []\n")
    home = ("--prefect-file", "prefect.yaml")
    code, _, err = flowplan(tmp_path, "apply", "plan.json", *home, "--auto-approve")
    assert code == 1
    assert "cannot read the plan file plan.json: is a FIFO (named pipe), not a regular file" in err
    code, _, err = flowplan(tmp_path, "apply", "/dev/zero", *home, "--auto-approve")
    assert code == 1
    assert "cannot read the plan file /dev/zero: is a character device, not a regular file" in err
    code, _, err = flowplan(
        tmp_path,
        "work-pool",
        "create",
        "p",
        "--type",
        "process",
        "--base-job-template",
        "plan.json",
    )
    assert code == 1
    assert (
        "plan.json: cannot read the base job template (is a FIFO (named pipe), not a regular" in err
    )
