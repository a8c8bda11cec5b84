"""`run_shell_script` and `pip_install_requirements`: commands run as real subprocesses.

With `shell` off (the default) each line is split with shlex and run directly, so a templated
value with `;`, `|` or `$(...)` in it is passed as text, never interpreted.
"""

from __future__ import annotations

import os
import shlex
import string
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from flowplan import masking
from flowplan.errors import StepExecutionError

_TAIL = 2000


def _run(argv: list[str] | str, cwd: str | None, env: Mapping[str, str], shell: bool,
         stream: bool) -> tuple[int, str, str]:  # fmt: skip
    try:
        done = subprocess.run(argv, cwd=cwd, env=dict(env), shell=shell, capture_output=True,
                              text=True, check=False)  # fmt: skip
    except FileNotFoundError as exc:
        name = exc.filename or (argv if isinstance(argv, str) else argv[0])
        raise StepExecutionError(f"command not found: {name}") from None
    except NotADirectoryError:
        raise StepExecutionError(f"directory {cwd!r} is not a directory") from None
    if stream:  # cleaned like every step's output and errors, wherever it goes
        sys.stderr.write(masking.clean(done.stdout))
        sys.stderr.write(masking.clean(done.stderr))
    return done.returncode, done.stdout, done.stderr


def _tail(output: str) -> str:
    """The end of a command's output, cleaned before it is cut (a cut would leave part of a
    secret that masking no longer recognises)."""
    return masking.clean(output.strip())[-_TAIL:]


def run_shell_script(
    script: str,
    directory: str | None = None,
    env: Mapping[str, str] | None = None,
    stream_output: bool = True,
    expand_env_vars: bool = False,
    shell: bool = False,
) -> dict[str, str]:
    """Run each non-blank line; the first failing line stops it with its exit code and stderr."""
    if directory is not None and not Path(directory).is_dir():
        raise StepExecutionError(f"run_shell_script: directory {directory!r} does not exist")
    environment = {**os.environ, **{k: str(v) for k, v in (env or {}).items()}}
    stdout, stderr = [], []
    for line in script.splitlines():
        if not line.strip():
            continue
        command = string.Template(line).safe_substitute(environment) if expand_env_vars else line
        argv: list[str] | str = command if shell else shlex.split(command)
        code, out, err = _run(argv, directory, environment, shell, stream_output)
        stdout.append(out.strip())
        stderr.append(err.strip())
        if code != 0:
            tail = _tail(err) or _tail(out) or "(no output)"
            raise StepExecutionError(
                f"run_shell_script failed: {command!r} exited with code {code}: {tail}"
            )
    return {
        "stdout": "\n".join(s for s in stdout if s),
        "stderr": "\n".join(s for s in stderr if s),
    }


def pip_install_requirements(
    directory: str | None = None,
    requirements_file: str = "requirements.txt",
    stream_output: bool = True,
) -> dict[str, str]:
    argv = [sys.executable, "-m", "pip", "install", "-r", requirements_file]
    code, out, err = _run(argv, directory, os.environ, False, stream_output)
    if code != 0:
        raise StepExecutionError(
            f"pip_install_requirements failed (exit code {code}): {_tail(err)}"
        )
    return {"stdout": out.strip(), "stderr": err.strip()}


def set_working_directory(directory: str) -> dict[str, str]:
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise StepExecutionError(f"set_working_directory: {directory!r} is not a directory")
    os.chdir(path)
    return {"directory": str(Path.cwd())}
