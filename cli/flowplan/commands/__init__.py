"""The CLI: one module per command or command group, registered here."""

from __future__ import annotations

import typer

from flowplan.commands import (
    deployment,
    flow_run,
    flows,
    schema,
    secret,
    validate,
    variable,
    work_pool,
    work_queue,
)

HELP = """Declarative deployments for Python workflows, driven by prefect.yaml.

Exit codes: 0 success; 1 user error (invalid input, failed apply or run); 2 changes pending
(plan --detailed-exitcode); 3 internal error (a bug; the traceback is written to a log file);
130 interrupted.
"""

app = typer.Typer(
    name="flowplan",
    help=HELP,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.command("validate")(validate.validate)
app.command("schema")(schema.schema)
app.add_typer(flows.app, name="flows")
app.add_typer(work_pool.app, name="work-pool")
app.add_typer(work_queue.app, name="work-queue")
app.add_typer(deployment.app, name="deployment")
app.add_typer(flow_run.app, name="flow-run")
app.add_typer(variable.app, name="variable")
app.add_typer(secret.app, name="secret")
