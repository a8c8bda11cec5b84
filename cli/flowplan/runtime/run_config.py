"""A run's job configuration as the worker starts it, and its secrets masked in the run.

The pool's template is rendered with the deployment's and the run's job variables (`{{ $ENV }}`
in the template from the worker's environment), then `{{ prefect.blocks.secret.* }}` and
`{{ prefect.variables.* }}` left in it are resolved now, at run time, as Prefect's worker does:
the store, plans, output and logs only ever hold the references. The secret values live only in
the configuration handed to the run's process; the names of the secrets used go with it
(`FLOWPLAN_RUN_SECRETS`), and the engine reads them again to mask their values in everything
the run prints or logs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from typing import Any, Protocol

from flowplan import masking
from flowplan.backends import variable_reader
from flowplan.backends.protocol import Backend
from flowplan.domain.job_config import WorkPoolJobConfiguration, checked_fields
from flowplan.domain.objects import Deployment, FlowRun, WorkPool
from flowplan.domain.values import secret_value
from flowplan.errors import FlowplanError, ObjectNotFound
from flowplan.templating import Placeholder, resolve_references, secret_name

SECRETS_ENV = "FLOWPLAN_RUN_SECRETS"


def job_configuration(
    backend: Backend, pool: WorkPool, deployment: Deployment, run: FlowRun
) -> WorkPoolJobConfiguration:
    """The configuration that starts `run`, references resolved; its `env` also names the
    secrets used (for the engine to mask), as `FLOWPLAN_RUN_SECRETS`."""
    config = WorkPoolJobConfiguration.from_template(
        pool.base_job_template, deployment.job_variables, run.job_variables
    )
    used: list[str] = []

    def block(placeholder: Placeholder) -> Any:
        name = secret_name(placeholder)
        try:
            value = backend.read_secret_value(name)
        except ObjectNotFound:
            raise FlowplanError(
                f"the run's job variables use {{{{ {placeholder.name} }}}}, but secret {name!r}"
                " does not exist",
                hint=f"flowplan secret set {name}",
            ) from None
        used.append(name)
        fields = placeholder.name.split(".")[4:]
        return _field(value, name, fields) if fields else secret_value(value)

    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    resolved = checked_fields(resolve_references(fields, variable_reader(backend), block))
    env = {**resolved["env"], SECRETS_ENV: ",".join(dict.fromkeys(used))}
    return dataclasses.replace(config, **{**resolved, "env": env})


def _field(secret: str, name: str, fields: list[str]) -> Any:
    from flowplan.steps.runner import block_field

    return block_field(secret, name, fields)


class SecretReader(Protocol):
    def read_secret_value(self, name: str) -> str: ...


def mask_run_secrets(backend: SecretReader) -> None:
    """In the run's process: read the secrets its configuration used, so their values (and
    the values inside one holding JSON) are masked in its output and logs."""
    for name in filter(None, os.environ.get(SECRETS_ENV, "").split(",")):
        try:
            value = backend.read_secret_value(name)
        except ObjectNotFound:
            continue  # deleted since the worker read it: its value was not given to this run
        masking.register(value)
        with contextlib.suppress(ValueError):
            masking.register(json.loads(value))
