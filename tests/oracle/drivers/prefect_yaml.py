"""Run by `.venv-prefect`'s Python: how `prefect deploy` reads each prefect.yaml (its
`PrefectYamlModel` over `yaml.safe_load` of the text, as `_load_deploy_configs_and_actions`
does): "unreadable" (YAML error), "not-a-mapping", "refused" (the model refuses it: Prefect
skips the whole file) or "read", with the deployment names and the number of build, push and
pull steps. Cases: [{"text"}]; answers: [{"verdict", ...}]."""

import warnings

import yaml
from prefect.cli.deploy._models import PrefectYamlModel
from pydantic import ValidationError
from tests.oracle.shared import answer_each

warnings.filterwarnings("ignore")


def answer(index, case):
    try:
        loaded = yaml.safe_load(case["text"])
    except yaml.YAMLError:
        return {"verdict": "unreadable"}
    if not isinstance(loaded, dict):
        return {"verdict": "not-a-mapping"}
    try:
        model = PrefectYamlModel.model_validate(loaded)
    except ValidationError as exc:
        return {"verdict": "refused", "where": [list(map(str, e["loc"])) for e in exc.errors()]}
    return {"verdict": "read", "deployments": [d.name for d in model.deployments],
            "steps": [len(model.build or []), len(model.push or []),
                      None if model.pull is None else len(model.pull)]}  # fmt: skip


if __name__ == "__main__":
    answer_each(answer)
