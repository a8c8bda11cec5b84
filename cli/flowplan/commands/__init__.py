"""The CLI: one module per command or command group, registered here.

Command groups are imported only when the command line selects them (or for `--help`), because
start-up time is a feature: `flowplan deployment ls` should not pay for importing the validator,
nor `flowplan validate` for the store.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import typer

HELP = """Declarative deployments for Python workflows, driven by prefect.yaml.

Exit codes: 0 success; 1 user error (invalid input, failed apply or run); 2 changes pending
(plan --detailed-exitcode); 3 internal error (a bug; the traceback is written to a log file);
130 interrupted.
"""

# name -> (module, attribute, kind, one-line help); kind is "command" or "group".
COMMANDS: dict[str, tuple[str, str, str, str]] = {
    "init": ("flowplan.commands.init", "init", "command",
             "Create prefect.yaml from a recipe (local, git, docker, docker-git, kubernetes)."),
    "validate": ("flowplan.commands.validate", "validate", "command",
                 "Validate prefect.yaml files without running user code."),
    "schema": ("flowplan.commands.schema", "schema", "command",
               "Print the JSON Schema of prefect.yaml."),
    "flows": ("flowplan.commands.flows", "app", "group", "Find flows in the source tree."),
    "plan": ("flowplan.commands.plan", "plan", "command",
             "Show what apply would change on the target, field by field."),
    "apply": ("flowplan.commands.apply", "apply", "command",
              "Make the target match the project (under a lock)."),
    "deploy": ("flowplan.commands.deploy", "deploy", "command",
               "Plan and apply selected deployments in one go (Prefect's flags)."),
    "import": ("flowplan.commands.import_", "import_", "command",
               "Write the target's deployments, pools and queues into prefect.yaml."),
    "force-unlock": ("flowplan.commands.force_unlock", "force_unlock", "command",
                     "Clear the apply lock left by a process that died."),
    "work-pool": ("flowplan.commands.work_pool", "app", "group", "Manage work pools."),
    "work-queue": ("flowplan.commands.work_queue", "app", "group", "Manage work queues."),
    "deployment": ("flowplan.commands.deployment", "app", "group", "Manage deployments."),
    "flow-run": ("flowplan.commands.flow_run", "app", "group", "Inspect and manage flow runs."),
    "worker": ("flowplan.commands.worker", "app", "group",
               "Run flow runs of a work pool on this machine."),
    "variable": ("flowplan.commands.variable", "app", "group", "Manage variables."),
    "secret": ("flowplan.commands.secret", "app", "group",
               "Manage secrets (values are never printed)."),
    "server": ("flowplan.commands.server", "app", "group",
               "Serve Prefect's REST API over the local store."),
    "webhook": ("flowplan.commands.events", "webhook_app", "group",
                "Manage webhooks (POST /hooks/<slug> on flowplan server)."),
    "event": ("flowplan.commands.events", "event_app", "group",
              "Show events (runs' state changes, webhooks)."),
    "automation": ("flowplan.commands.events", "automation_app", "group",
                   "Show deployment triggers and their firings."),
}  # fmt: skip


def build_app(argv: Sequence[str] = ()) -> typer.Typer:
    """The CLI with the selected command loaded (all of them when none is selected)."""
    app = typer.Typer(
        name="flowplan",
        help=HELP,
        add_completion=True,  # --install-completion, --show-completion (typer's own)
        no_args_is_help=True,
        suggest_commands=False,  # click suggests already: once is enough
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root)
    selected = _selected(argv)
    version_only = selected is None and bool({"--version", "-V"} & set(argv))
    load_all = selected not in COMMANDS and not version_only
    for name, (module, attribute, kind, help_text) in COMMANDS.items():
        if load_all or name == selected:
            target = getattr(importlib.import_module(module), attribute)
        elif kind == "command":
            target = _placeholder
        else:
            target = typer.Typer(help=help_text)
        if kind == "command":
            app.command(name, help=help_text if target is _placeholder else None)(target)
        else:
            _quiet_suggestions(target)
            app.add_typer(target, name=name, help=help_text)
    return app


def _quiet_suggestions(group: typer.Typer) -> None:
    """Typer's "Did you mean" repeats click's own: off in a group and its subgroups."""
    group.suggest_commands = False
    for info in group.registered_groups:
        if info.typer_instance is not None:
            _quiet_suggestions(info.typer_instance)


def _selected(argv: Sequence[str]) -> str | None:
    """The command a command line names: its first word that is not an option (or the value
    of `--api-url`)."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--api-url":
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def _show_version(value: bool) -> None:
    if value:
        from flowplan import __version__

        typer.echo(f"flowplan {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(
        False,
        "--version",
        "-V",
        is_eager=True,
        callback=_show_version,
        help="Show flowplan's version and exit.",
    ),
    api_url: str = typer.Option(
        None,
        "--api-url",
        help="A Prefect server's API (http://host:4200/api) to work on instead of the local"
        " store. Default: $FLOWPLAN_API_URL, then $PREFECT_API_URL.",
    ),
) -> None:
    """Declarative deployments for Python workflows, driven by prefect.yaml."""
    if api_url:
        import os

        os.environ["FLOWPLAN_API_URL"] = api_url


def _placeholder() -> None:
    """Stands in for a command that this command line does not run."""
