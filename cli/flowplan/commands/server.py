"""`flowplan server start`: Prefect's REST API for deployments and runs, over the local store."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from flowplan import console
from flowplan.errors import InvalidInput, ValidationFailed

if TYPE_CHECKING:
    from flowplan.backends.local import LocalBackend

app = typer.Typer(help="Serve Prefect's REST API over the local store.", no_args_is_help=True)


def _say(text: str) -> None:
    console.out(text)
    sys.stdout.flush()  # read as it happens, often through a pipe


@app.command("start")
def start(
    host: str = typer.Option("127.0.0.1", "--host", help="The address to listen on."),
    port: int = typer.Option(4200, "--port", "-p", help="The port (0: any free port)."),
    token: str = typer.Option(
        None,
        "--token",
        envvar="FLOWPLAN_SERVER_TOKEN",
        show_envvar=True,
        help="The bearer token clients must send (default on a non-loopback bind: generated"
        " once into $FLOWPLAN_HOME/server-token).",
    ),
    project: Path = typer.Option(
        None,
        "--project",
        help="The project (a prefect.yaml, or its directory) whose plan the web UI shows"
        " (default: ./prefect.yaml when there is one).",
    ),
) -> None:
    """Serve Prefect's REST API (deployments, flow runs, logs, work pools, variables) on
    http://HOST:PORT/api, over the local store that workers and the CLI use. Prefect's own
    client works against it: PREFECT_API_URL=http://HOST:PORT/api. A bind other than
    127.0.0.1, ::1 or localhost needs a token on every request. SIGTERM or Ctrl-C stops it."""
    from flowplan.backends.local import LocalBackend
    from flowplan.backends.local.store import default_home
    from flowplan.server import app as server_app
    from flowplan.server import auth

    if not 0 <= port <= 65535:
        raise InvalidInput(f"--port must be from 0 to 65535, got {port}")
    backend = LocalBackend()
    backend.change_marker()  # opens (and migrates) the store now: its errors come first
    source = auth.choose_token(host, token, default_home())
    planner = _planner(project, backend)
    options = server_app.ServerOptions(host, port, source.token, planner)
    server = server_app.build(backend, options)
    bound_port = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound_port}/api"
    _say(f"flowplan server serving the {backend.target} on {url}")
    if source.origin in ("generated", "file"):
        made = "generated into" if source.origin == "generated" else "from"
        _say(f"Token ({made} {source.path}): {source.token}")
        _say("Clients send 'Authorization: Bearer <token>' (Prefect's client: PREFECT_API_KEY)")
    elif source.origin == "given":
        _say("Clients send 'Authorization: Bearer <token>' with the token given")
    _say(f"Web UI: {url[: -len('/api')]}/" + (f" (plan of {planner[0]})" if planner else ""))
    _say(f"Prefect's client and CLI: PREFECT_API_URL={url}")
    server_app.serve(server, lambda name: _say(f"Stopping ({name})"))
    _say("Stopped.")


def _planner(
    project: Path | None, backend: LocalBackend
) -> tuple[str, Callable[[], list[str]]] | None:
    """The web UI's plan: the project file's plan against this store, made on each call (no
    build step runs; their outputs are predicted, as `flowplan plan` does)."""
    if project is None:
        project = Path("prefect.yaml")
        if not project.is_file():
            return None
    path = (project / "prefect.yaml" if project.is_dir() else project).resolve()
    if not path.is_file():
        raise InvalidInput(f"--project {project}: no such file: {path}")
    os.chdir(path.parent)  # entrypoints are relative to it, as for `flowplan plan` (no thread
    # serves yet; the store is already open)

    def lines() -> list[str]:
        from flowplan.plan.pipeline import Request, make_plan
        from flowplan.plan.render import render
        from flowplan.project.validate import validate_file

        report = validate_file(path, str(path))
        if not report.valid or report.project is None:
            problems = "; ".join(finding.render() for finding in report.errors)
            raise ValidationFailed(f"{path} has errors; nothing was planned: {problems}")
        plan = make_plan(report, Request(), backend)
        return [*(f"warning: {warning}" for warning in plan.warnings), *render(plan)]

    return str(path), lines
