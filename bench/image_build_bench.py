"""Target (issue 24): ten deployments sharing an image -> one build; an unchanged re-deploy ->
no build. `deploy()` of ten deployments with `image=DeploymentImage(...)`, build and push,
against podman's Docker API and a local registry started here; builds are counted from the
engine's own `build` events, times are whole `deploy()` calls (build or digest check, push,
store). Two images: a small one from the project's Dockerfile (`FROM scratch`), and an
auto-Dockerfile one on the local test base image (Python, pip; flowplan from wheels).

    python bench/image_build_bench.py [RUNS]     # default 5 (the auto-Dockerfile image: 2)
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import write

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import docker  # noqa: E402
from tests.engine_events import Builds  # noqa: E402
from tests.images import base_image  # noqa: E402
from tests.servers import docker_engine  # noqa: E402

from flowplan import DeploymentImage, deploy  # noqa: E402
from flowplan.backends import get_backend  # noqa: E402

FLOWS = "from flowplan import flow\n\n@flow\ndef etl(day: str = 'today'):\n    return day\n"


def load(root: Path) -> Any:
    path = root / "flows" / "etl.py"
    spec = importlib.util.spec_from_file_location(f"bench_{abs(hash(path))}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scenario(client: Any, root: Path, image: DeploymentImage, runs: int) -> dict[str, Any]:
    """`runs` times: change a file, deploy (one build expected), deploy again (none)."""
    first_builds, first_times, again_builds, again_times = [], [], [], []
    for run in range(runs):
        (root / "flows" / "data.txt").write_text(f"run {run} {time.time_ns()}\n")
        module = load(root)
        deployments = [module.etl.to_deployment(f"d{i}", work_pool_name="docker-pool")
                       for i in range(10)]  # fmt: skip
        for builds, times in ((first_builds, first_times), (again_builds, again_times)):
            counted = Builds(client)
            start = time.perf_counter()
            deploy(*deployments, image=image, print_next_steps=False)
            times.append(time.perf_counter() - start)
            builds.append(counted.since_start())
    return {"first_builds": first_builds, "first_s": first_times,
            "again_builds": again_builds, "again_s": again_times}  # fmt: skip


def rows(label: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    def median(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} s"

    runs = len(result["first_s"])
    return [
        {"what": f"ten deployments sharing an image ({label}): builds",
         "target": "1 build",
         "measured": f"builds per run {result['first_builds']}; deploy() median "
                     f"{median(result['first_s'])} of {runs} runs (build, push, store)",
         "met": all(count == 1 for count in result["first_builds"])},
        {"what": f"unchanged re-deploy ({label}): builds",
         "target": "0 builds",
         "measured": f"builds per run {result['again_builds']}; deploy() median "
                     f"{median(result['again_s'])} of {runs} runs (digest check, push, store)",
         "met": all(count == 0 for count in result["again_builds"])},
    ]  # fmt: skip


def run_all(base: Path, runs: int) -> dict[str, Any]:
    with docker_engine(base / "engine") as engine:
        os.environ["DOCKER_HOST"] = engine.host
        os.environ["FLOWPLAN_HOME"] = str(base / "home")
        root = base / "proj"
        (root / "flows").mkdir(parents=True)
        (root / "flows" / "etl.py").write_text(FLOWS)
        os.chdir(root)
        get_backend().create_work_pool("docker-pool", "docker")
        client = docker.DockerClient(base_url=engine.host)
        (root / "Dockerfile").write_text("FROM scratch\nCOPY flows /opt/prefect/proj/flows\n")
        small = DeploymentImage(f"{engine.registry}/bench/small", tag="1",
                                dockerfile="Dockerfile", pull=False)  # fmt: skip
        results = {"project Dockerfile, FROM scratch": scenario(client, root, small, runs)}
        (root / "Dockerfile").unlink()
        python = base_image(client, extras=["pip"])  # built locally, cached between sessions
        auto = DeploymentImage(f"{engine.registry}/bench/auto", tag="1", base_image=python,
                               pull=False)  # fmt: skip
        results["auto Dockerfile, flowplan from wheels"] = scenario(
            client, root, auto, max(1, min(runs, 2))
        )
    return results


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "engine").mkdir()
        results = run_all(Path(tmp), runs)
        os.chdir(ROOT)
    table = [row for label, result in results.items() for row in rows(label, result)]
    for row in table:
        print(f"{row['what']}: {row['measured']} (target {row['target']}, met {row['met']})")
    write("image_build", {
        "target": "ten deployments sharing an image: one build; an unchanged re-deploy: none",
        "results": results, "rows": table,
        "conditions": "podman 4.3 (vfs storage), local docker-registry, 2 cores shared with "
                      "other jobs: times are noisy",
    })  # fmt: skip


if __name__ == "__main__":
    main()
