"""Prefect's own client and CLI (Prefect 3.9 in `.venv-prefect`) against `flowplan server`,
with PREFECT_API_URL pointing at it; the runs they create are executed by a real flowplan
worker to COMPLETED, with the parameters they were given."""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.domain.objects import FlowRun, StateType
from tests.flowplan_server import FlowplanServer, flowplan_server
from tests.integration.workers import Workers, wait_for
from tests.prefect_server import PREFECT, PREFECT_VENV, prefect_env
from tests.runtime.helpers import deployment, store

FLOW = """
from pathlib import Path
from flowplan import flow

@flow
def f(n: int, label: str = "x"):
    Path(f"ran-{n}-{label}.txt").write_text("done")
    print(f"n={n} label={label}")
"""
SCHEMA = {"type": "object", "title": "Parameters", "required": ["n"],
          "properties": {"n": {"type": "integer", "title": "n"},
                         "label": {"type": "string", "title": "label", "default": "x"}}}  # fmt: skip


class Setup:
    def __init__(self, root: Path, backend: LocalBackend, server: FlowplanServer) -> None:
        self.root, self.backend, self.server = root, backend, server

    def prefect(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Prefect's CLI, against flowplan's server."""
        return subprocess.run(
            [str(PREFECT), *args], cwd=self.root, capture_output=True, text=True, timeout=300,
            env={**prefect_env(self.root / "prefect-home", self.server.url), "COLUMNS": "250"},
        )  # fmt: skip

    def python(self, code: str) -> subprocess.CompletedProcess[str]:
        """A script using Prefect's client, against flowplan's server."""
        return subprocess.run(
            [str(PREFECT_VENV / "bin" / "python"), "-c", textwrap.dedent(code)], cwd=self.root,
            capture_output=True, text=True, timeout=300,
            env=prefect_env(self.root / "prefect-home", self.server.url),
        )  # fmt: skip

    def finished(self, run_id: str) -> FlowRun:
        def final() -> FlowRun | None:
            run = self.backend.read_flow_run(run_id)
            return run if run.state.type.is_final else None

        return wait_for(f"run {run_id} to finish", final, timeout=120)


@pytest.fixture
def setup(tmp_path: Path, workers: Workers) -> Iterator[Setup]:
    assert PREFECT.exists(), f"{PREFECT} is missing: run 'bash scripts/prefect-venv.sh'"
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, source=FLOW, parameter_openapi_schema=SCHEMA,
               enforce_parameter_schema=True)  # fmt: skip
    workers.start()
    with flowplan_server(tmp_path / "home") as server:
        yield Setup(tmp_path, backend, server)
    backend.close()


def test_run_deployment_returns_at_once_or_waits_for_completion(setup: Setup) -> None:
    deployment_id = setup.backend.read_deployment("f/d").id
    done = setup.python(
        """
        import json
        from uuid import UUID
        from prefect.deployments import run_deployment
        at_once = run_deployment("f/d", parameters={"n": 7}, timeout=0, tags=["adhoc"],
                                 idempotency_key="once", job_variables={"env": {"A": "1"}})
        again = run_deployment("f/d", parameters={"n": 7}, timeout=0, idempotency_key="once")
        waited = run_deployment("f/d", parameters={"n": 8, "label": "w"}, timeout=120,
                                poll_interval=0.2)
        by_id = run_deployment(UUID("DEPLOYMENT_ID"), parameters={"n": 9}, timeout=0)
        print(json.dumps({"at_once": [str(at_once.id), at_once.state.type.value,
                                      sorted(at_once.tags), at_once.parameters],
                          "again": str(again.id),
                          "waited": [str(waited.id), waited.state.type.value,
                                     waited.parameters],
                          "by_id": str(by_id.id)}))
    """.replace("DEPLOYMENT_ID", deployment_id)
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    run_id, state, tags, parameters = answer["at_once"]
    assert (state, tags, parameters) == ("SCHEDULED", ["adhoc"], {"n": 7})
    assert answer["again"] == run_id  # the idempotency key gave the same run
    assert answer["waited"][1:] == ["COMPLETED", {"n": 8, "label": "w"}]
    assert setup.finished(run_id).state.type is StateType.COMPLETED
    assert setup.backend.read_flow_run(run_id).job_variables == {"env": {"A": "1"}}
    assert setup.finished(answer["by_id"]).parameters == {"n": 9}  # by the deployment's id
    assert (setup.root / "ran-7-x.txt").exists() and (setup.root / "ran-8-w.txt").exists()
    assert (setup.root / "ran-9-x.txt").exists()


def test_prefect_deployment_run_ls_inspect_and_flow_run_ls(setup: Setup) -> None:
    created = setup.prefect("deployment", "run", "f/d", "--param", "n=5", "--param",
                            "label=cli", "--tag", "from-cli")  # fmt: skip
    assert created.returncode == 0, created.stdout + created.stderr
    assert "Creating flow run for deployment 'f/d'..." in created.stdout
    assert "└── Parameters: {'n': 5, 'label': 'cli'}" in created.stdout
    run_id = created.stdout.split("└── UUID: ")[1].split()[0]
    finished = setup.finished(run_id)
    assert finished.state.type is StateType.COMPLETED
    assert (setup.root / "ran-5-cli.txt").exists()
    assert "from-cli" in finished.tags

    listed = setup.prefect("deployment", "ls")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "f/d" in listed.stdout and "pool" in listed.stdout
    inspected = setup.prefect("deployment", "inspect", "f/d", "--output", "json")
    assert inspected.returncode == 0, inspected.stdout + inspected.stderr
    document = json.loads(inspected.stdout)
    assert (document["name"], document["work_pool_name"]) == ("d", "pool")
    assert document["parameter_openapi_schema"] == SCHEMA and document["automations"] == []
    runs = setup.prefect("flow-run", "ls", "--output", "json")
    assert runs.returncode == 0, runs.stdout + runs.stderr
    assert [(run["id"], run["state"]["type"]) for run in json.loads(runs.stdout)] == [
        (run_id, "COMPLETED")]  # fmt: skip


def test_a_wrong_parameter_is_refused_by_the_server(setup: Setup) -> None:
    refused = setup.prefect("deployment", "run", "f/d", "--param", "n=many")
    assert refused.returncode == 1
    assert "Error creating flow run: parameter n: " in refused.stdout
    assert setup.backend.read_flow_runs() == []


def test_prefect_flow_run_cancel(setup: Setup) -> None:
    later = setup.backend.create_flow_run("f/d", parameters={"n": 1}, scheduled_time=None,
                                          name="later")  # fmt: skip
    setup.backend.set_flow_run_state(later.id, StateType.PAUSED)  # not claimable meanwhile
    cancelled = setup.prefect("flow-run", "cancel", later.id)
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    assert f"Flow run '{later.id}' was successfully scheduled for cancellation." in " ".join(
        cancelled.stdout.split())  # fmt: skip
    assert setup.backend.read_flow_run(later.id).state.type is StateType.CANCELLED


def test_prefects_client_sends_the_token_on_a_non_loopback_bind(tmp_path: Path) -> None:
    """On 127.0.0.2 the server needs its token: Prefect's client sends PREFECT_API_KEY as the
    bearer token; without it, Prefect's CLI reports the refusal."""
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, source=FLOW, parameter_openapi_schema=SCHEMA)
    with flowplan_server(tmp_path / "home", host="127.0.0.2") as server:
        token = (tmp_path / "home" / "server-token").read_text().strip()
        setup = Setup(tmp_path, backend, server)
        refused = setup.prefect("deployment", "ls")
        assert refused.returncode == 1
        assert (
            "Unauthorized: send 'Authorization: Bearer <token>'" in refused.stdout + refused.stderr
        )
        env = {**prefect_env(tmp_path / "prefect-home", server.url), "PREFECT_API_KEY": token}
        created = subprocess.run(
            [str(PREFECT), "deployment", "run", "f/d", "--param", "n=2"], cwd=tmp_path,
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert created.returncode == 0, created.stdout + created.stderr
        assert [run.parameters for run in backend.read_flow_runs()] == [{"n": 2}]
    backend.close()


def test_prefect_deployment_run_watch_follows_the_run_to_completed(setup: Setup) -> None:
    """`--watch` follows the run through Prefect's events and logs websockets."""
    watched = setup.prefect("deployment", "run", "f/d", "--param", "n=11", "--watch",
                            "--watch-timeout", "120")  # fmt: skip
    assert watched.returncode == 0, watched.stdout + watched.stderr
    run_id = watched.stdout.split("└── UUID: ")[1].split()[0]
    text = " ".join(watched.stdout.split())
    assert "Flow run finished successfully in 'Completed'." in text
    assert "prefect.flow-run.Running" in text and "prefect.flow-run.Completed" in text
    assert "n=11 label=x" in text  # the run's log line, from the logs stream
    assert setup.backend.read_flow_run(run_id).state.type is StateType.COMPLETED


def test_prefect_deployment_run_watch_shows_a_failed_run(setup: Setup) -> None:
    """The flow writes `ran-12-///.txt`: not a file name, so the run fails."""
    watched = setup.prefect("deployment", "run", "f/d", "--param", "n=12", "--param",
                            "label=" + "/" * 3, "--watch", "--watch-timeout", "120")  # fmt: skip
    assert watched.returncode == 1, watched.stdout + watched.stderr
    assert "Flow run finished in state 'Failed'." in " ".join(watched.stdout.split())
    assert "prefect.flow-run.Failed" in watched.stdout
