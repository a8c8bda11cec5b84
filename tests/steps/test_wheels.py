"""The wheels an auto-Dockerfile image installs flowplan from: made from this installation,
they install with `pip --no-index` into a fresh virtual environment (no network), and the
flowplan installed there works, its data files included."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

from flowplan.steps.builtin import wheels


def test_closure_holds_flowplan_and_its_dependencies_not_extras() -> None:
    names = {wheels.canonical(dist.metadata["Name"]) for dist in wheels.closure(["flowplan"])}
    assert {"flowplan", "rich", "typer", "docker", "jsonschema", "ruamel-yaml"} <= names
    assert "pytest" not in names  # only in flowplan's `test` extra


def test_fingerprint_follows_flowplan_files_not_only_versions() -> None:
    dists = wheels.closure(["flowplan"])
    assert wheels.fingerprint(dists) == wheels.fingerprint(dists)
    assert wheels.fingerprint(dists) != wheels.fingerprint([d for d in dists if d is not dists[0]])


def test_a_repacked_wheel_keeps_the_tags_and_a_valid_record() -> None:
    dist = wheels.installed("ruamel.yaml.clib")
    assert dist is not None
    wheel = wheels.make_wheel(dist)
    assert "-cp3" in wheel.filename and "linux" in wheel.filename  # compiled: its own tags
    with zipfile.ZipFile(io.BytesIO(wheel.content)) as archive:
        names = archive.namelist()
        record = archive.read(next(n for n in names if n.endswith(".dist-info/RECORD"))).decode()
    assert any(name.endswith(".so") for name in names)
    assert all(name in record for name in names)


def test_the_wheels_install_offline_and_flowplan_runs(tmp_path: Path) -> None:
    out = tmp_path / "wheels"
    out.mkdir()
    for dist in wheels.closure(["flowplan"]):
        wheel = wheels.make_wheel(dist)
        (out / wheel.filename).write_bytes(wheel.content)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "install", "--no-index", "--find-links",
         str(out), "--disable-pip-version-check", "-q", "flowplan"],
        check=True, env={"PATH": "/usr/bin:/bin", "PIP_CONFIG_FILE": "/dev/null"},
    )  # fmt: skip
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "prefect.yaml").write_text("name: p\ndeployments: []\n")
    checked = subprocess.run(
        [str(venv / "bin/flowplan"), "validate"], cwd=tmp_path / "proj",
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    where = subprocess.run(
        [str(venv / "bin/python"), "-c", "import flowplan; print(flowplan.__file__)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert where.stdout.startswith(str(venv))
