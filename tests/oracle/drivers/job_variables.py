"""Run by `.venv-prefect`'s Python: the job configuration Prefect's worker builds for a run
(`BaseJobConfiguration.resolve_for_flow_run`: the deployment's and the run's job variables
merged, `from_template_and_values` over the pool's base job template, block and variable
references resolved), with a client that answers from the suite's secrets and variables and
a configuration class that keeps the template's other keys. Cases: [{"template", "deployment",
"run"}]; answers: [{"configuration": {...}} or {"error"}]."""

import asyncio
import json
import os
import warnings
from types import SimpleNamespace

from prefect.exceptions import ObjectNotFound
from prefect.workers.process import ProcessJobConfiguration
from pydantic import ConfigDict
from tests.oracle.shared import JOB_ENVIRON, JOB_SECRETS, JOB_VARIABLES, answer_each

warnings.filterwarnings("ignore")
os.environ.update(JOB_ENVIRON)


class Configuration(ProcessJobConfiguration):
    model_config = ConfigDict(extra="allow")

    def prepare_for_flow_run(self, *args, **kwargs):  # run ids and labels: not compared
        pass


def _secret_data(text):
    try:
        value = json.loads(text)
    except ValueError:
        return {"value": text}
    return {"value": value if isinstance(value, dict) else text}


class Client:
    def __init__(self, deployment_variables):
        self.deployment_variables = deployment_variables

    async def read_block_document_by_name(self, name, block_type_slug):
        if block_type_slug != "secret" or name not in JOB_SECRETS:
            raise ObjectNotFound(http_exc=Exception(f"no {block_type_slug} block {name}"))
        return SimpleNamespace(data=_secret_data(JOB_SECRETS[name]))

    async def read_variable_by_name(self, name):
        if name not in JOB_VARIABLES:
            return None
        return SimpleNamespace(value=JOB_VARIABLES[name])

    async def read_deployment(self, deployment_id):
        return SimpleNamespace(job_variables=self.deployment_variables)

    async def read_flow(self, flow_id):
        return SimpleNamespace(name="f")


async def configuration(case):
    run = SimpleNamespace(deployment_id="d", flow_id="f", job_variables=case["run"])
    config = await Configuration.resolve_for_flow_run(
        run, client=Client(case["deployment"]), work_pool=SimpleNamespace(
            base_job_template=case["template"]), worker_name="w")  # fmt: skip
    return config.model_dump(mode="json")


def answer(index, case):
    return {"configuration": asyncio.run(configuration(case))}


if __name__ == "__main__":
    answer_each(answer)
