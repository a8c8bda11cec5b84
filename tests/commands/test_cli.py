from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO, Result

GOOD = {
    "prefect.yaml": "deployments:\n  - name: nightly\n    entrypoint: flows/hello.py:hello\n    tags: [a]\n",
    "flows/hello.py": "from prefect import flow\n\n@flow(name='Hello')\ndef hello(who: str = 'world'):\n    print(who)\n",
}
BAD = {
    "prefect.yaml": "deployments:\n  - name: nightly\n    entrypoint: flows/hello.py:hello\n    tags: a,b\n    schedules: [{cron: '61 * * * *'}]\n    env: {A: b}\n",
    "flows/hello.py": GOOD["flows/hello.py"],
}


def test_validate_ok(project: Callable[..., Path], cli: Callable[..., Result]) -> None:
    project(GOOD)
    result = cli("validate")
    assert (result.code, result.out, result.err) == (0, "Valid: 1 file, 0 warnings.\n", "")


def test_validate_reports_every_problem_with_its_position(
    project: Callable[..., Path], cli: Callable[..., Result]
) -> None:
    project(BAD)
    result = cli("validate")
    assert result.code == 1
    assert result.out.splitlines() == [
        "error: prefect.yaml:4:11: deployments[0].tags: expected a list or null, got text ('a,b') (write a list, e.g. tags: [etl, nightly]; Prefect splits a string into single characters)",
        "error: prefect.yaml:5:24: deployments[0].schedules[0].cron: invalid cron expression '61 * * * *' (minute must be 0-59, got 61)",
        "warning: prefect.yaml:6:5: deployments[0].env: unknown key 'env' (environment variables belong under work_pool.job_variables.env)",
        "2 errors, 1 warning in 1 file.",
    ]


def test_strict_ignore_and_json(project: Callable[..., Path], cli: Callable[..., Result]) -> None:
    files = dict(GOOD)
    files["prefect.yaml"] += "    env: {A: b}\n"
    project(files)
    assert cli("validate").code == 0
    assert cli("validate", "--strict").code == 1
    assert cli("validate", "--strict", "--ignore", "misplaced-key").code == 0
    result = cli("validate", "--output", "json")
    data = json.loads(result.out)
    assert data["valid"] is True
    [report] = data["files"]
    assert (report["errors"], report["warnings"]) == (0, 1)
    assert report["findings"][0] == {
        "severity": "warning", "code": "misplaced-key", "file": "prefect.yaml", "line": 5, "column": 5,
        "path": "deployments[0].env", "message": "unknown key 'env'",
        "hint": "environment variables belong under work_pool.job_variables.env",
    }  # fmt: skip


def test_several_files_and_prefect_file(
    project: Callable[..., Path], cli: Callable[..., Result]
) -> None:
    root = project(GOOD)
    (root / "other.yaml").write_text("deployments: {name: x}\n")
    result = cli("validate", "prefect.yaml", "--prefect-file", "other.yaml")
    assert result.code == 1
    assert result.out.splitlines()[0].startswith(
        "error: other.yaml:1:14: deployments: expected a list, got a mapping"
    )
    assert result.out.splitlines()[-1] == "1 error, 0 warnings in 2 files."


def test_unreadable_files(project: Callable[..., Path], cli: Callable[..., Result]) -> None:
    root = project({})
    (root / "empty.yaml").write_text("")
    (root / "list.yaml").write_text("- a\n")
    (root / "bin.yaml").write_bytes(b"\x00\x01\x02")
    (root / "dir.yaml").mkdir()
    result = cli("validate", "missing.yaml", "empty.yaml", "list.yaml", "bin.yaml", "dir.yaml")
    assert result.code == 1
    assert result.out.splitlines() == [
        "error: missing.yaml: no such file",
        "error: empty.yaml: file is empty (a project file is a mapping with a deployments list)",
        "error: list.yaml:1:1: expected a mapping at the top level, got a list (a project file is a mapping with keys such as name, build, pull and deployments)",
        "error: bin.yaml: binary file, not YAML text",
        "error: dir.yaml: is a directory, not a file",
        "5 errors, 0 warnings in 5 files.",
    ]


def test_flows_ls(project: Callable[..., Path], cli: Callable[..., Result]) -> None:
    root = project(GOOD)
    (root / "broken.py").write_text("import prefect\n@prefect.flow\ndef x(:\n")
    result = cli("flows", "ls", "--output", "json")
    assert result.code == 0
    data = json.loads(result.out)
    assert [f["entrypoint"] for f in data["flows"]] == ["flows/hello.py:hello"]
    assert data["flows"][0]["name"] == "Hello"
    assert data["problems"] == ["broken.py:3:7: syntax error: invalid syntax"]
    table = cli("flows", "ls")
    assert "Hello" in table.out and "flows/hello.py:hello" in table.out and "who" in table.out
    assert "broken.py:3:7: syntax error" in table.err
    assert cli("flows", "ls", "nope").code == 1


def test_schema_command_prints_the_schema(cli: Callable[..., Result]) -> None:
    result = cli("schema")
    assert result.code == 0
    assert json.loads(result.out)["$id"] == "https://flowplan.dev/schemas/prefect.yaml.schema.json"


def test_usage_errors_exit_1(cli: Callable[..., Result]) -> None:
    result = cli("validate", "--no-such-flag")
    assert result.code == 1
    assert "No such option '--no-such-flag'" in result.err


def test_internal_errors_exit_3_with_a_log(
    monkeypatch, cli: Callable[..., Result], tmp_path: Path
) -> None:
    import flowplan.commands.schema as schema_command

    def boom() -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(schema_command, "project_schema", boom)
    result = cli("schema")
    assert result.code == 3
    assert "Internal error (a bug in flowplan): RuntimeError: kaboom" in result.err
    log = Path(result.err.split("The full traceback is in ")[1].split(";")[0])
    assert "Traceback" in log.read_text() and log.is_relative_to(tmp_path)


def test_end_to_end_as_a_subprocess(tmp_path: Path) -> None:
    for name, text in BAD.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "flowplan", "validate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stdout.splitlines()[-1] == "2 errors, 1 warning in 1 file."
    assert (REPO / "cli" / "flowplan").is_dir()


def test_a_bug_exits_3_and_writes_a_private_crash_log(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stat

    import flowplan.commands

    def broken(args: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(flowplan.commands, "build_app", broken)
    result = cli("schema")
    assert result.code == 3
    assert "Internal error (a bug in flowplan): RuntimeError: boom" in result.err
    logs = tmp_path / ".flowplan-home" / "logs"
    (log,) = logs.iterdir()
    assert str(log) in result.err
    assert "RuntimeError: boom" in log.read_text()
    assert stat.S_IMODE(logs.stat().st_mode) == 0o700
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_version_and_short_help(cli: Callable[..., Result]) -> None:
    from flowplan import __version__

    version = cli("--version")
    assert (version.code, version.out) == (0, f"flowplan {__version__}\n")
    assert cli("-V").out == version.out
    short = cli("-h")
    assert short.code == 0 and short.out.startswith("Usage: flowplan [OPTIONS] COMMAND")
    assert cli("validate", "-h").out.startswith("Usage: flowplan validate [OPTIONS]")


def test_what_a_valid_file_reads_is_information(
    project: Callable[..., Path], cli: Callable[..., Result]
) -> None:
    files = dict(GOOD)
    files["prefect.yaml"] += "    description: 'built in {{ $PWD }}'\n"
    project(files)
    result = cli("validate")
    assert result.code == 0
    assert result.out.splitlines() == [
        "info: prefect.yaml reads env: PWD",
        "Valid: 1 file, 0 warnings.",
    ]
