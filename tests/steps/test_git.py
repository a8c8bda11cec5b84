"""git_clone against real servers: git daemon, file://, and a private https server that needs a
token (the token must reach git and never the output or the clone's config)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowplan.errors import StepExecutionError
from flowplan.steps.builtin.git import credential_env
from flowplan.steps.runner import StepContext, run_steps
from tests.servers import (
    git,
    git_daemon,
    make_repository,
    make_repository_with_submodule,
    private_https_git,
)

CLONE = "prefect.deployments.steps.git_clone"
TOKEN = "ghp_s3cr3t_t0ken_value"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, str]]:
    """(bare repository, git:// base URL, https:// base URL)."""
    root = tmp_path_factory.mktemp("git")
    bare = make_repository(root)
    make_repository_with_submodule(root)
    with git_daemon(root / "served") as daemon, private_https_git(root, TOKEN) as https:
        yield bare, daemon, https


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_SSL_NO_VERIFY", "true")  # the test server's certificate is self-signed
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    return tmp_path


def clone(context: StepContext | None = None, **arguments: object) -> dict[str, object]:
    import os

    ctx = context or StepContext(variable={}.get, secret={"token": TOKEN}.__getitem__,
                                 env=os.environ)  # fmt: skip
    return run_steps([{CLONE: arguments}], ctx)


def test_clone_from_git_daemon_and_file_urls(served: tuple[Path, str, str], workdir: Path) -> None:
    bare, daemon, _ = served
    assert clone(repository=f"{daemon}/flows-repo.git") == {"directory": "flows-repo"}
    assert (workdir / "flows-repo" / "flows" / "etl.py").exists()
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=workdir / "flows-repo") == "main"
    branch = clone(repository=f"file://{bare}", branch="feature/x")
    assert branch == {"directory": "flows-repo-feature-x"}
    assert (workdir / "flows-repo-feature-x" / "feature.txt").exists()


def test_commit_sparse_checkout_and_directory_name(
    served: tuple[Path, str, str], workdir: Path
) -> None:
    bare, daemon, _ = served
    first = git("rev-list", "--max-parents=0", "main", cwd=bare)
    done = clone(repository=f"file://{bare}", commit_sha=first[:12], clone_directory_name="pinned")
    assert done == {"directory": "pinned"}
    assert git("rev-parse", "HEAD", cwd=workdir / "pinned") == first
    sparse = clone(repository=f"{daemon}/flows-repo.git", directories=["flows"],
                   clone_directory_name="sparse")  # fmt: skip
    assert sparse == {"directory": "sparse"}
    assert (workdir / "sparse" / "flows" / "etl.py").exists()
    assert not (workdir / "sparse" / "docs").exists()


def test_submodules_are_cloned_when_asked(served: tuple[Path, str, str], workdir: Path) -> None:
    _, daemon, _ = served
    assert clone(repository=f"{daemon}/app.git", clone_directory_name="plain") == {
        "directory": "plain"
    }
    assert not (workdir / "plain" / "lib" / "flows" / "etl.py").exists()
    clone(repository=f"{daemon}/app.git", include_submodules=True, clone_directory_name="full")
    assert (workdir / "full" / "lib" / "flows" / "etl.py").exists()


def test_pull_when_already_cloned_and_refuse_another_origin(
    served: tuple[Path, str, str], workdir: Path
) -> None:
    bare, daemon, _ = served
    clone(repository=f"{daemon}/flows-repo.git")
    assert clone(repository=f"{daemon}/flows-repo.git") == {"directory": "flows-repo"}
    with pytest.raises(StepExecutionError, match="already a clone of"):
        clone(repository=f"file://{bare}", clone_directory_name="flows-repo")


def test_private_repository_with_a_token(
    served: tuple[Path, str, str], workdir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    _, _, https = served
    done = clone(
        repository=f"{https}/flows-repo.git", access_token="{{ prefect.blocks.secret.token }}"
    )
    assert done == {"directory": "flows-repo"}
    config = (workdir / "flows-repo" / ".git" / "config").read_text()
    assert TOKEN not in config and f"{https}/flows-repo.git" in config
    with pytest.raises(StepExecutionError) as caught:
        clone(repository=f"{https}/flows-repo.git", access_token="wrong-token-value",
              clone_directory_name="again")  # fmt: skip
    message = str(caught.value)
    assert "wrong-token-value" not in message and "failed" in message
    with pytest.raises(StepExecutionError) as missing:
        clone(repository=f"{https}/flows-repo.git", clone_directory_name="none")
    assert "Authentication failed" in str(missing.value) or "could not read" in str(missing.value)
    captured = capfd.readouterr()
    assert TOKEN not in captured.out + captured.err


def test_tokens_in_git_messages_are_masked(served: tuple[Path, str, str], workdir: Path) -> None:
    _, _, https = served
    with pytest.raises(StepExecutionError) as caught:
        clone(
            repository=f"{https}/does-not-exist.git",
            access_token="{{ prefect.blocks.secret.token }}",
        )
    assert TOKEN not in str(caught.value)
    assert "does-not-exist" in str(caught.value)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"repository": "git://127.0.0.1:1/nothing.git"},
            "git_clone of git://127.0.0.1:1/nothing.git failed",
        ),
        (
            {"repository": "file:///x.git", "branch": "--upload-pack=touch /tmp/x"},
            "Branch names cannot start with '-'",
        ),
        (
            {"repository": "file:///x.git", "branch": "a", "commit_sha": "abcd"},
            "either branch or commit_sha",
        ),
        ({"repository": "file:///x.git", "commit_sha": "xyz"}, "not 4-64 hexadecimal"),
        (
            {"repository": "file:///x.git", "access_token": "a", "credentials": {"username": "u"}},
            "not both",
        ),
    ],
)
def test_bad_arguments(workdir: Path, arguments: dict[str, object], message: str) -> None:
    with pytest.raises(StepExecutionError, match=message):
        clone(**arguments)


@pytest.fixture
def traced(workdir: Path, tmp_path_factory: pytest.TempPathFactory,
           monkeypatch: pytest.MonkeyPatch) -> Path:  # fmt: skip
    """Git's own record (trace2) of every git process and every child it starts, with argv;
    and a user configuration that would store credentials git was given."""
    base = tmp_path_factory.mktemp("traced")
    trace = base / "trace2.json"
    monkeypatch.setenv("GIT_TRACE2_EVENT", str(trace))
    home = base / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        f"[credential]\n\thelper = store --file={home / 'stored-credentials'}\n"
    )
    monkeypatch.setenv("HOME", str(home))
    return trace


def argvs(trace: Path) -> list[list[str]]:
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    return [event["argv"] for event in events if "argv" in event]


def test_the_token_never_reaches_a_command_line_the_config_or_a_credential_store(
    served: tuple[Path, str, str], workdir: Path, traced: Path
) -> None:
    bare, _, https = served
    url = f"{https}/flows-repo.git"
    first = git("rev-list", "--max-parents=0", "main", cwd=bare)
    clone(repository=url, access_token="{{ prefect.blocks.secret.token }}")
    clone(repository=url, access_token="{{ prefect.blocks.secret.token }}")  # a pull, now
    pinned = clone(repository=url, commit_sha=first, clone_directory_name="pinned",
                   credentials={"username": "ci", "password": "{{ prefect.blocks.secret.token }}"})  # fmt: skip
    assert pinned == {"directory": "pinned"}
    clone(repository=f"{https}/app.git", include_submodules=True,
          access_token="{{ prefect.blocks.secret.token }}")  # fmt: skip
    assert (workdir / "app" / "lib" / "flows" / "etl.py").exists()  # same origin: same token
    assert git("rev-parse", "HEAD", cwd=workdir / "pinned") == first  # fetched on checkout
    assert not (traced.parent / "home" / "stored-credentials").exists()
    assert TOKEN not in traced.read_text()
    commands = argvs(traced)
    assert ["git", "clone", "-v", "--depth=1", "--", url, "flows-repo"] in commands
    assert ["git", "pull", url, "--depth", "1"] in commands
    assert ["git", "remote-https", "origin", url] in commands  # what talks to the server
    for config in ("flows-repo/.git", "pinned/.git", "app/.git", "app/.git/modules/lib"):
        assert TOKEN not in (workdir / config / "config").read_text()


def test_the_credential_environment() -> None:
    env = credential_env(
        "https://x@git.example:8443/a/b.git", "ci:pa:ss", {"GIT_CONFIG_COUNT": "1"}
    )
    key = "credential.https://git.example:8443.helper"  # this origin alone
    assert (env["GIT_CONFIG_COUNT"], env["GIT_CONFIG_KEY_1"], env["GIT_CONFIG_VALUE_1"]) == (
        "3", key, "")  # fmt: skip
    assert env["GIT_CONFIG_KEY_2"] == key and "$FLOWPLAN_GIT_PASSWORD" in env["GIT_CONFIG_VALUE_2"]
    assert (env["FLOWPLAN_GIT_USERNAME"], env["FLOWPLAN_GIT_PASSWORD"]) == ("ci", "pa:ss")
    assert credential_env("https://h/r.git", "tok", {})["FLOWPLAN_GIT_PASSWORD"] == ""
    assert credential_env("http://h/r.git", "tok", {}) == {}  # tokens only ever go over https
    assert credential_env("https://h/r.git", None, {}) == {}
    with pytest.raises(ValueError, match="line break"):
        credential_env("https://h/r.git", "tok\nprotocol=http", {})
    with pytest.raises(ValueError, match="GIT_CONFIG_COUNT in the environment is not a number"):
        credential_env("https://h/r.git", "tok", {"GIT_CONFIG_COUNT": "x"})


def test_a_token_needs_a_git_that_reads_settings_from_the_environment(
    workdir: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    bin_dir = tmp_path_factory.mktemp("old-git")
    real = shutil.which("git")
    (bin_dir / "git").write_text(
        f'#!/bin/sh\n[ "$1" = version ] && echo "git version 2.30.9" && exit 0\nexec {real} "$@"\n'
    )
    (bin_dir / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    with pytest.raises(StepExecutionError, match=r"needs git 2.31 or later \(found 2.30.9\)"):
        clone(repository="https://127.0.0.1:1/x.git", access_token="a-token-value")
