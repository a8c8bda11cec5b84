"""`git_clone` through gitpython. A token reaches git only through its environment: a credential
helper, configured by environment variables for the repository's https origin alone, answers
git's request with it. So it never appears on a command line (`ps` shows every process's argv),
in the clone's configuration, or in a credential store the user configured; and it is masked in
every message (git's own included)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flowplan import masking
from flowplan.errors import StepExecutionError

_SHA = re.compile(r"[0-9a-fA-F]{4,64}")
_PERMANENT = ("not found", "does not exist", "authentication failed", "could not read username",
              "not appear to be a git repository", "invalid username or password", "403",
              "couldn't find remote ref", "remote branch")  # fmt: skip
RETRIES = 3
# Fixed text: the credentials reach it as environment variables, printf prints them as data.
_HELPER = (
    "!f() { test \"$1\" = get || exit 0; printf 'username=%s\\npassword=%s\\n'"
    ' "$FLOWPLAN_GIT_USERNAME" "$FLOWPLAN_GIT_PASSWORD"; }; f'
)


def credential_env(repository: str, token: str | None,
                   environ: Mapping[str, str] = os.environ) -> dict[str, str]:  # fmt: skip
    """The environment git needs to authenticate to `repository` with `token`: none unless it
    is an https URL (tokens are only ever sent over https). A bare token is the user, with an
    empty password so git never prompts for one; `user:password` is both. The helper applies
    to the repository's origin only (a submodule elsewhere never gets the token), and the empty
    helper before it drops those the user configured (which would answer first, or store it)."""
    if not token:
        return {}
    parts = urlsplit(repository)
    if parts.scheme != "https":
        return {}
    if any(char in token for char in "\r\n\0"):
        raise ValueError("the access token contains a line break or a NUL character")
    user, _, password = token.partition(":")
    origin = f"https://{parts.netloc.rpartition('@')[2]}"
    count_text = environ.get("GIT_CONFIG_COUNT") or "0"  # settings passed already stay
    if not count_text.isdigit():
        raise ValueError(f"GIT_CONFIG_COUNT in the environment is not a number: {count_text!r}")
    count = int(count_text)
    key = f"credential.{origin}.helper"
    return {
        "GIT_CONFIG_COUNT": str(count + 2),
        f"GIT_CONFIG_KEY_{count}": key, f"GIT_CONFIG_VALUE_{count}": "",
        f"GIT_CONFIG_KEY_{count + 1}": key, f"GIT_CONFIG_VALUE_{count + 1}": _HELPER,
        "FLOWPLAN_GIT_USERNAME": user, "FLOWPLAN_GIT_PASSWORD": password,
    }  # fmt: skip


def _token(access_token: str | None, credentials: Mapping[str, Any] | None) -> str | None:
    if access_token and credentials:
        raise ValueError("give either access_token or credentials, not both")
    if credentials:
        if credentials.get("access_token"):
            return str(credentials["access_token"])
        user, password = credentials.get("username"), credentials.get("password")
        if user and password:
            return f"{user}:{password}"
        return str(credentials.get("token") or "") or None
    return access_token


def clone_directory(repository: str, branch: str | None, name: str | None) -> str:
    if name:
        return name
    repo = repository.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git")
    return f"{repo}-{branch.replace('/', '-')}" if branch else repo


def git_clone(
    repository: str,
    branch: str | None = None,
    commit_sha: str | None = None,
    include_submodules: bool = False,
    access_token: str | None = None,
    credentials: Mapping[str, Any] | None = None,
    directories: list[str] | None = None,
    clone_directory_name: str | None = None,
) -> dict[str, str]:
    """Clone (or pull, when already cloned from the same origin) into `directory`."""
    if branch and branch.startswith("-"):
        raise ValueError("Branch names cannot start with '-'.")
    if branch and commit_sha:
        raise ValueError("give either branch or commit_sha, not both")
    if commit_sha and not _SHA.fullmatch(commit_sha):
        raise ValueError(f"commit_sha {commit_sha!r} is not 4-64 hexadecimal characters")
    token = _token(access_token, credentials)
    masking.register([token, (token or "").partition(":")[2]])  # the password of user:password
    env = credential_env(repository, token)
    if env:
        _check_git_version()
    directory = clone_directory(repository, branch, clone_directory_name)
    for attempt in range(1, RETRIES + 1):
        try:
            _clone_or_pull(repository, env, directory, branch, commit_sha, include_submodules,
                           directories)  # fmt: skip
            return {"directory": directory}
        except ValueError:
            raise
        except Exception as exc:  # gitpython raises GitCommandError and OSError variants
            message = _git_message(exc)
            if attempt == RETRIES or any(p in message.lower() for p in _PERMANENT):
                raise StepExecutionError(
                    f"git_clone of {masking.clean(repository)} failed: {message}"
                ) from None
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def _check_git_version() -> None:
    """Settings in the environment (GIT_CONFIG_COUNT) came with git 2.31; an older git would
    ignore the credentials and fail with "could not read Username"."""
    import git

    found = git.Git().version_info
    if found < (2, 31):
        raise ValueError(
            f"git_clone with a token needs git 2.31 or later (found {'.'.join(map(str, found))})"
        )


def _git_message(exc: Exception) -> str:
    stderr = getattr(exc, "stderr", None)
    text = stderr if isinstance(stderr, str) and stderr.strip() else str(exc)
    text = text.strip().removeprefix("stderr: ").strip("'\" \n")
    return masking.clean(" ".join(text.split()))[-1500:]  # cleaned before it is cut


def _clone_or_pull(
    url: str, env: Mapping[str, str], directory: str, branch: str | None, commit_sha: str | None,
    submodules: bool, directories: list[str] | None,
) -> None:  # fmt: skip
    import git

    target = Path(directory)
    if (target / ".git").exists():
        repo = git.Repo(target)
        origin = repo.remotes.origin.url if repo.remotes else None
        if origin != url:
            raise ValueError(f"{directory!r} is already a clone of {origin!r}, not of {url!r}")
        repo.git.update_environment(**env)
        repo.git.pull(url, *([branch] if branch else []), "--depth", "1")
        return
    options = ["--depth=1"] if not commit_sha else ["--filter=blob:none", "--no-checkout"]
    if branch:
        options.append(f"--branch={branch}")
    if submodules:
        options.append("--recurse-submodules")
    if directories:
        options.append("--sparse")
    repo = git.Repo.clone_from(url, target, multi_options=options, env=dict(env))
    repo.git.update_environment(**env)  # a checkout after a partial clone fetches, too
    if commit_sha:
        repo.git.checkout(commit_sha)
    if directories:
        repo.git.execute(["git", "sparse-checkout", "set", *directories])
