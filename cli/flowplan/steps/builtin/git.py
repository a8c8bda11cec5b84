"""`git_clone` through gitpython. Tokens go into https URLs only, are never written to the
clone's configuration, and are masked in every message (git's own included)."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from flowplan import masking
from flowplan.errors import StepExecutionError

_SHA = re.compile(r"[0-9a-fA-F]{4,64}")
_PERMANENT = ("not found", "does not exist", "authentication failed", "could not read username",
              "not appear to be a git repository", "invalid username or password", "403",
              "couldn't find remote ref", "remote branch")  # fmt: skip
RETRIES = 3


def _with_credentials(repository: str, token: str | None) -> str:
    if not token:
        return repository
    parts = urlsplit(repository)
    if parts.scheme != "https":
        return repository  # tokens are only ever sent over https
    host = parts.netloc.rpartition("@")[2]
    # A bare token goes in as the user with an empty password, so git never prompts for one.
    userinfo = quote(token, safe=":") if ":" in token else f"{quote(token, safe='')}:"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


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
    masking.register(token)
    url = _with_credentials(repository, token)
    directory = clone_directory(repository, branch, clone_directory_name)
    for attempt in range(1, RETRIES + 1):
        try:
            _clone_or_pull(url, repository, directory, branch, commit_sha, include_submodules,
                           directories)  # fmt: skip
            return {"directory": directory}
        except ValueError:
            raise
        except Exception as exc:  # gitpython raises GitCommandError and OSError variants
            message = masking.clean(_git_message(exc))
            if attempt == RETRIES or any(p in message.lower() for p in _PERMANENT):
                raise StepExecutionError(
                    f"git_clone of {masking.clean(repository)} failed: {message}"
                ) from None
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def _git_message(exc: Exception) -> str:
    stderr = getattr(exc, "stderr", None)
    text = stderr if isinstance(stderr, str) and stderr.strip() else str(exc)
    text = text.strip().removeprefix("stderr: ").strip("'\" \n")
    return " ".join(text.split())[-1500:]


def _clone_or_pull(
    url: str, clean_url: str, directory: str, branch: str | None, commit_sha: str | None,
    submodules: bool, directories: list[str] | None,
) -> None:  # fmt: skip
    import git

    target = Path(directory)
    if (target / ".git").exists():
        repo = git.Repo(target)
        origin = repo.remotes.origin.url if repo.remotes else None
        if origin != clean_url:
            raise ValueError(
                f"{directory!r} is already a clone of {origin!r}, not of {clean_url!r}"
            )
        repo.git.pull(url, *([branch] if branch else []), "--depth", "1")
        return
    options = ["--depth=1"] if not commit_sha else ["--filter=blob:none", "--no-checkout"]
    if branch:
        options.append(f"--branch={branch}")
    if submodules:
        options.append("--recurse-submodules")
    if directories:
        options.append("--sparse")
    repo = git.Repo.clone_from(url, target, multi_options=options)
    repo.remotes.origin.set_url(clean_url)  # the token never stays in .git/config
    if commit_sha:
        repo.git.checkout(commit_sha)
    if directories:
        repo.git.execute(["git", "sparse-checkout", "set", *directories])
