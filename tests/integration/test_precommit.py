"""The `flowplan-validate` hook, run by the real pre-commit tool from a local checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

SHIPPED = ["pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "cli", "schemas", "recipes"]


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_hook_blocks_a_bad_prefect_yaml_and_passes_a_good_one(tmp_path: Path) -> None:
    hook_repo = tmp_path / "flowplan-checkout"
    hook_repo.mkdir()
    for name in SHIPPED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, hook_repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, hook_repo / name)
    git(hook_repo, "init", "-q")
    git(hook_repo, "add", ".")
    git(hook_repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "hook")
    rev = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=hook_repo, capture_output=True, text=True, check=True
    ).stdout.strip()

    user = tmp_path / "user-project"
    (user / "flows").mkdir(parents=True)
    (user / "flows" / "etl.py").write_text(
        "from prefect import flow\n\n@flow\ndef etl():\n    pass\n"
    )
    (user / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hook_repo}\n    rev: {rev}\n    hooks:\n      - id: flowplan-validate\n"
    )
    (user / "prefect.yaml").write_text(
        "deployments:\n  - name: nightly\n    entrypoint: flows/etl.py:etl\n    tags: a,b\n"
    )
    git(user, "init", "-q")
    git(user, "add", ".")

    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path),
           "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-cache"), "NO_COLOR": "1"}  # fmt: skip
    run = [sys.executable, "-m", "pre_commit", "run", "--all-files"]
    failed = subprocess.run(run, cwd=user, capture_output=True, text=True, env=env, timeout=600)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "flowplan validate" in failed.stdout and "Failed" in failed.stdout
    assert (
        "prefect.yaml:4:11: deployments[0].tags: expected a list or null, got text ('a,b')"
        in failed.stdout
    )

    (user / "prefect.yaml").write_text(
        "deployments:\n  - name: nightly\n    entrypoint: flows/etl.py:etl\n    tags: [a, b]\n"
    )
    git(user, "add", ".")
    passed = subprocess.run(run, cwd=user, capture_output=True, text=True, env=env, timeout=600)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout
