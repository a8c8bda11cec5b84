"""The Kubernetes Jobs of every corpus file that runs on a kubernetes pool pass the offline
checks. The files do not declare their pools' types (Prefect keeps them on the server): a pool
named for Kubernetes, or given Kubernetes-only job variables, is made a kubernetes pool on the
target for `plan --render-jobs`, and declared under `work_pools:` for `validate`."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.project.loader import load_file
from tests.conftest import Result, corpus_files
from tests.plan.corpus_round_trip import stub_flows

pytestmark = pytest.mark.corpus

KUBERNETES_NAME = re.compile(r"kubernetes|k8s|gke|eks|aks", re.IGNORECASE)
KUBERNETES_ONLY = {"namespace", "service_account_name", "finished_job_ttl"}
# what each file's CI would have set (the image's registry is read from the environment)
ENV = {"CLOUDPIPE_ECR_REGISTRY": "123456789012.dkr.ecr.us-east-1.amazonaws.com"}
EXPECTED = {  # file -> deployments on kubernetes pools
    "PrefectHQ__integration-tests__prefect.yaml": 15,
    "PrefectHQ__test_flows__prefect.yaml": 6,
    "amackojc__prefect-aks-ml__prefect_prefect.yaml": 10,
    "jrussell9000__cloudpipe__prefect_prefect.yaml": 4,
    "zzstoatzz__my-prefect-server__prefect.yaml": 4,
}


def kubernetes_pools(data: Any) -> tuple[set[str], set[str], list[str]]:
    """(kubernetes pools, other pools) the file's deployments use, and the names of the
    deployments on kubernetes pools."""
    kube: set[str] = set()
    other: set[str] = set()
    names: list[str] = []
    for item in data.get("deployments") or () if isinstance(data, dict) else ():
        pool = item.get("work_pool") if isinstance(item, dict) else None
        name = pool.get("name") if isinstance(pool, dict) else None
        if not isinstance(name, str) or "{{" in name:
            continue
        variables = pool.get("job_variables") if isinstance(pool, dict) else None
        keys = set(variables) if isinstance(variables, dict) else set()
        if KUBERNETES_NAME.search(name) or keys & KUBERNETES_ONLY:
            kube.add(name)
            names.append(str(item.get("name")))
        else:
            other.add(name)
    return kube, other - kube, names


def corpus_with_kubernetes() -> list[Path]:
    found = []
    for path in corpus_files():
        try:
            data = load_file(path).data
        except Exception:
            continue
        if kubernetes_pools(data)[0]:
            found.append(path)
    return found


def test_the_corpus_has_the_kubernetes_files_we_know() -> None:
    assert sorted(p.name for p in corpus_with_kubernetes()) == sorted(EXPECTED)


@pytest.mark.parametrize("source", corpus_with_kubernetes(), ids=lambda p: p.name)
def test_every_kubernetes_job_of_the_corpus_passes(
    source: Path, project: Callable[..., Path], cli: Callable[..., Result], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import kubernetes_validate

    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    root = project({})
    text = source.read_text(encoding="utf-8")
    (root / "prefect.yaml").write_text(text)
    data = load_file(root / "prefect.yaml").data
    stub_flows(root, data)
    kube, other, names = kubernetes_pools(data)
    store = LocalBackend(tmp_path / ".flowplan-home" / "flowplan.db")
    try:
        for name in sorted(kube):
            store.create_work_pool(name, "kubernetes")
        for name in sorted(other):
            store.create_work_pool(name, "process")
    finally:
        store.close()
    selection = [arg for name in dict.fromkeys(names) for arg in ("-n", name)]
    rendered = cli("plan", "--render-jobs", "-o", "json", *selection)
    assert rendered.code == 0, rendered.err
    jobs = json.loads(rendered.out)
    assert len(jobs) == EXPECTED[source.name]
    for job in jobs:
        assert [f for f in job["findings"] if f["severity"] == "error"] == [], job["findings"]
        manifest = job["manifest"]
        pod = manifest["spec"]["template"]["spec"]
        del pod["parallelism"], pod["completions"]  # Prefect's default template: dropped
        kubernetes_validate.validate(manifest, "1.30", strict=True)
    # declared in the file, validate renders the same Jobs (with the values as written)
    declared = "\n".join(f"  - name: {name}\n    type: kubernetes" for name in sorted(kube))
    (root / "prefect.yaml").write_text(text.rstrip("\n") + f"\nwork_pools:\n{declared}\n")
    shutil.rmtree(tmp_path / ".flowplan-home")
    report = json.loads(cli("validate", "-o", "json").out)["files"][0]
    k8s = [f for f in report["findings"] if f["code"].startswith("k8s-")]
    assert [f for f in k8s if f["severity"] == "error"] == []
