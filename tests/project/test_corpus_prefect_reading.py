"""Every real prefect.yaml in the shared corpus, read by flowplan and by Prefect's own
`prefect deploy` reading (Prefect 3.9's `PrefectYamlModel`, run by `.venv-prefect`): a file
Prefect cannot read or refuses (it then ignores the whole file) is a validate error; a file
Prefect reads validates without errors, except the files listed in BEYOND with what flowplan
finds that Prefect only meets later (when it deploys, or when a run starts)."""

from __future__ import annotations

import pytest

from flowplan.files import read_text
from flowplan.project.validate import validate_file
from tests.conftest import corpus_files
from tests.oracle.harness import ask_prefect

pytestmark = pytest.mark.corpus

BEYOND = {
    "AbderrahimAl__Bucket2Elasticsearch__prefect.yaml": "tags: dev (Prefect splits it into d, e, v)",
    "Brennan-Chesley-FLP__en_banc__prefect.yaml": "{{ flow_run.name }} (Prefect drops the key)",
    "Godwin-T__mlops-zoomcamp__03-orchestration_prefect.yaml": "a Prefect 2 step (runs fail)",
    "jnsofini__mlops__03-orchestration_prefect.yaml": "a Prefect 2 step (runs fail)",
    "PrefectHQ__prefect__src_prefect_deployments_recipes_docker-azure_prefect.yaml":
        "init-time placeholders (the build step fails)",
    "PrefectHQ__prefect__src_prefect_projects_recipes_docker-git_prefect.yaml":
        "init-time placeholders and Prefect 2 steps (the build step fails)",
    "kevingrismore__ecs-example__prefect.yaml": "a misspelt step id (Prefect drops the image)",
    "mitbal__harvest__pipeline_prefect.yaml": "schedule and schedules (prefect deploy refuses)",
}  # fmt: skip


def test_corpus_files_validate_as_prefect_reads_them() -> None:
    files = corpus_files()
    answers = ask_prefect("prefect_yaml", [{"text": read_text(path)} for path in files])
    refused_but_valid, read_but_errors = [], []
    for path, theirs in zip(files, answers, strict=True):
        report = validate_file(path, path.name)
        errors = [f for f in report.findings
                  if f.severity == "error" and not f.code.startswith("entrypoint-")]  # fmt: skip
        if theirs["verdict"] in ("unreadable", "refused") and not errors:
            refused_but_valid.append(f"{path.name}: Prefect {theirs}")
        if theirs["verdict"] == "read" and errors:
            read_but_errors.append(path.name)
    assert refused_but_valid == []
    assert sorted(read_but_errors) == sorted(BEYOND)
