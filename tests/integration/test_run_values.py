"""What a run receives through a real worker: job variables with secret and variable references
are resolved when the run starts, and the secret values stay out of the store and the logs."""

from __future__ import annotations

import json
from pathlib import Path

from flowplan.domain.objects import StateType
from tests.integration.test_runtime import final
from tests.integration.workers import Workers
from tests.runtime.helpers import deployment, store

ENV_FLOW = """
import json, os
from flowplan import flow

@flow
def f():
    names = ("API_TOKEN", "DB_PASSWORD", "HEADER", "REGION", "FLOWPLAN_RUN_SECRETS")
    with open("received.json", "w") as out:
        json.dump({name: os.environ.get(name) for name in names}, out)
    print("token is", os.environ["API_TOKEN"], "and password", os.environ["DB_PASSWORD"])
"""


def test_secret_and_variable_references_in_job_variables_reach_the_run(
    tmp_path: Path, workers: Workers
) -> None:
    backend = store(workers.home)
    backend.set_secret("api-token", "tok-9f8e7d6c")
    backend.set_secret("db", json.dumps({"password": "pw-1234abcd", "user": "app"}))
    backend.set_variable("region", "eu-west-1")
    job_variables = {
        "working_dir": str(tmp_path),
        "env": {
            "API_TOKEN": "{{ prefect.blocks.secret.api-token }}",
            "DB_PASSWORD": "{{ prefect.blocks.secret.db.password }}",
            "HEADER": "Bearer {{ prefect.blocks.secret.api-token }}",
        },
    }
    deployment(backend, tmp_path, source=ENV_FLOW, job_variables=job_variables)
    workers.start()
    run = backend.create_flow_run(
        "f/d", job_variables={"env": {"REGION": "{{ prefect.variables.region }}"}}
    )
    done = final(backend, run)
    assert done.state.type is StateType.COMPLETED, done.state.message
    received = json.loads((tmp_path / "received.json").read_text())
    assert received == {
        "API_TOKEN": "tok-9f8e7d6c", "DB_PASSWORD": "pw-1234abcd",
        "HEADER": "Bearer tok-9f8e7d6c", "REGION": "eu-west-1",
        "FLOWPLAN_RUN_SECRETS": "api-token,db",
    }  # fmt: skip
    # the store keeps the references; the logs and the worker's output only masked values
    stored = backend.read_deployment("f/d").job_variables
    assert stored["env"]["API_TOKEN"] == "{{ prefect.blocks.secret.api-token }}"
    assert backend.read_flow_run(run.id).job_variables == {
        "env": {"REGION": "{{ prefect.variables.region }}"}
    }
    logs = "\n".join(line.message for line in backend.read_logs(run.id))
    assert "token is ******** and password ********" in logs
    worker_output = workers.output(workers.started[0][0])
    assert "token is ******** and password ********" in worker_output
    for secret in ("tok-9f8e7d6c", "pw-1234abcd"):
        assert secret not in logs and secret not in worker_output


def test_a_missing_secret_crashes_the_run_saying_which(tmp_path: Path, workers: Workers) -> None:
    backend = store(workers.home)
    job_variables = {"env": {"API_TOKEN": "{{ prefect.blocks.secret.gone }}"}}
    deployment(backend, tmp_path, job_variables=job_variables)
    workers.start()
    done = final(backend, backend.create_flow_run("f/d"))
    assert done.state.type is StateType.CRASHED
    assert "{{ prefect.blocks.secret.gone }}, but secret 'gone' does not exist" in (
        done.state.message or ""
    )
