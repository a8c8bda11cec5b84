"""The web UI's plan page on a real `flowplan server start --project DIR` process (started from
another directory): what apply would change, an edit of prefect.yaml seen on refresh, drift
marked, nothing written."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
from pathlib import Path

from flowplan.backends.local import LocalBackend
from tests.flowplan_server import flowplan_server, server_env

FLOW = "from flowplan import flow\n\n@flow\ndef hello(who: str = 'x'):\n    pass\n"
PROJECT = """name: proj
deployments:
  - name: nightly
    entrypoint: flows/hello.py:hello
    work_pool: {name: pool}
    tags: [TAG]
"""


def page(base: str) -> str:
    with urllib.request.urlopen(base + "/plan", timeout=30) as response:
        return str(response.read().decode())


def test_the_plan_page_shows_what_apply_would_change_and_follows_edits(tmp_path: Path) -> None:
    home, project = tmp_path / "home", tmp_path / "project"
    (project / "flows").mkdir(parents=True)
    (project / "flows" / "hello.py").write_text(FLOW)
    (project / "prefect.yaml").write_text(PROJECT.replace("TAG", "first"))
    backend = LocalBackend(home / "flowplan.db")
    backend.create_work_pool("pool", "process")
    with flowplan_server(home, "--project", str(project)) as server:
        base = server.url[: -len("/api")]
        assert f"(plan of {project / 'prefect.yaml'})" in server.output()
        first = page(base)
        assert '<span class="add">  + deployment &#x27;hello/nightly&#x27;</span>' in first
        assert backend.read_deployments() == []  # read-only
        subprocess.run([sys.executable, "-m", "flowplan", "apply", "--auto-approve"],
                       cwd=project, env=server_env(home), check=True,
                       capture_output=True)  # fmt: skip
        assert "No changes. The target matches the project." in page(base)
        (project / "prefect.yaml").write_text(PROJECT.replace("TAG", "second"))
        edited = page(base)
        assert "~ deployment &#x27;hello/nightly&#x27;" in edited and "second" in edited
        (deployed,) = backend.read_deployments()
        backend.update_deployment(deployed.id, {"description": "changed by hand"})
        assert "changed outside flowplan since the last apply)</span>" in page(base)
        assert re.search(r"<span class=\"chg drift\">  ~ deployment", page(base))
        (project / "prefect.yaml").write_text("deployments: [")
        broken = page(base)
        assert (
            'class="error" role="alert"' in broken and "has errors; nothing was planned" in broken
        )
    backend.close()


def test_without_a_project_the_plan_page_says_how_to_get_one(tmp_path: Path) -> None:
    with flowplan_server(tmp_path / "home") as server:
        assert "--project DIR" in page(server.url[: -len("/api")])
