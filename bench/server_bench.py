"""Targets (issue 25), measured in one run on this machine:
- `create_flow_run` through Prefect's own client (Prefect 3.9, `.venv-prefect`) against
  `flowplan server` vs against Prefect's own server, same deployment shape, same calls:
  flowplan at least 5x faster (medians per call; `run_deployment(timeout=0)` too);
- `flowplan server start` to its first answer: well under a second (median);
- the server's idle resident memory after serving those calls: <= 80 MB.
Besides, the same call without Prefect's client (a tight loop over one kept-alive connection)
gives each server's own share of the time: Prefect's client costs a few ms per call itself.

Needs .venv-prefect (`bash scripts/prefect-venv.sh .venv-prefect`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import compile_package, flowplan_command, summary, write

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.prefect_server import PREFECT_VENV, prefect_env, prefect_server  # noqa: E402
from tests.servers import free_port  # noqa: E402

CALLS = 200
STARTS = 9
SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}

# Run with Prefect's python: makes the deployment when asked, then times the calls.
CLIENT = """
import json, sys, time
from prefect import get_client
from prefect.deployments import run_deployment
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.states import Scheduled

calls, setup, schema = int(sys.argv[1]), sys.argv[2] == "setup", json.loads(sys.argv[3])
with get_client(sync_client=True) as client:
    if setup:
        client.create_work_pool(WorkPoolCreate(name="bench-pool", type="process"))
        flow_id = client.create_flow_from_name("bench-flow")
        client.create_deployment(flow_id=flow_id, name="bench", work_pool_name="bench-pool",
                                 parameter_openapi_schema=schema, enforce_parameter_schema=True)
    deployment = client.read_deployment_by_name("bench-flow/bench")
    client.create_flow_run_from_deployment(deployment.id, parameters={"n": 0})  # warm-up
    create = []
    for i in range(calls):
        start = time.perf_counter()
        client.create_flow_run_from_deployment(deployment.id, parameters={"n": i},
                                               state=Scheduled())
        create.append(time.perf_counter() - start)
run = []
for i in range(calls // 4):
    start = time.perf_counter()
    run_deployment("bench-flow/bench", parameters={"n": i}, timeout=0)
    run.append(time.perf_counter() - start)
print(json.dumps({"create_flow_run": create, "run_deployment_timeout_0": run}))
"""


def client_times(url: str, home: Path, setup: bool) -> dict[str, list[float]]:
    done = subprocess.run(
        [str(PREFECT_VENV / "bin" / "python"), "-c", CLIENT, str(CALLS),
         "setup" if setup else "-", json.dumps(SCHEMA)],
        env=prefect_env(home, url), capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"Prefect's client failed against {url}:\n{done.stderr[-3000:]}")
    result: dict[str, list[float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def raw_times(url: str) -> list[float]:
    """The server's own share: the same call over one kept-alive connection from a tight loop
    (the standard library's client), without Prefect's client around it."""
    import http.client
    from urllib.parse import urlsplit

    with urllib.request.urlopen(url + "/deployments/name/bench-flow/bench") as response:
        deployment_id = json.loads(response.read())["id"]
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port)
    path = f"{parts.path}/deployments/{deployment_id}/create_flow_run"
    times = []
    for i in range(CALLS + 1):
        body = json.dumps({"parameters": {"n": i}, "state": {"type": "SCHEDULED"}})
        start = time.perf_counter()
        status = 503
        while status == 503:  # SQLite busy on Prefect's server: retried, as its client does
            try:
                connection.request("POST", path, body, {"content-type": "application/json"})
                answer = connection.getresponse()
                answer.read()
                status = answer.status
            except ConnectionError:  # it closes the connection after a 503
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname or "", parts.port)
        if status not in (200, 201):
            sys.exit(f"create_flow_run answered {status} on {url}")
        times.append(time.perf_counter() - start)
    connection.close()
    return times[1:]


def start_server(home: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "FLOWPLAN_HOME": str(home)}
    started = time.perf_counter()
    argv = flowplan_command("server", "start", "--port", str(port))
    quiet = subprocess.DEVNULL
    process = subprocess.Popen(argv, env=env, stdout=quiet, stderr=quiet)
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as response:
                if response.status == 200:
                    return process, url, time.perf_counter() - started
        except OSError:
            if process.poll() is not None:
                sys.exit("flowplan server did not start")
            time.sleep(0.002)


def stop(process: subprocess.Popen[bytes]) -> float:
    started = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    process.wait(30)
    return time.perf_counter() - started


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmRSS")


def main() -> None:
    if not (PREFECT_VENV / "bin" / "python").exists():
        sys.exit(f"{PREFECT_VENV} is missing: run 'bash scripts/prefect-venv.sh .venv-prefect'")
    compile_package()
    from flowplan.backends.local import LocalBackend
    from flowplan.domain.specs import DeploymentSpec

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        home = base / "flowplan-home"
        backend = LocalBackend(home / "flowplan.db")
        backend.create_work_pool("bench-pool", "process")
        backend.upsert_deployments([DeploymentSpec(
            flow_name="bench-flow", name="bench", entrypoint="flows/etl.py:etl",
            work_pool_name="bench-pool", parameter_openapi_schema=SCHEMA)])  # fmt: skip
        backend.close()
        starts, stops = [], []
        for _ in range(STARTS):
            process, _url, took = start_server(home)
            starts.append(took)
            stops.append(stop(process))
        process, url, _ = start_server(home)
        try:
            ours = client_times(url, base / "prefect-home-a", setup=False)
            ours["raw_http_create_flow_run"] = raw_times(url)
            time.sleep(1)
            idle = rss_mb(process.pid)
        finally:
            stop(process)
        with prefect_server(base / "prefect") as server:
            theirs = client_times(server.url, base / "prefect-home-b", setup=True)
            theirs["raw_http_create_flow_run"] = raw_times(server.url)
    result: dict[str, object] = {
        "target": "create_flow_run through Prefect's client >= 5x faster than on Prefect's"
        " server; start well under 1 s; idle RSS <= 80 MB",
        "calls": CALLS,
    }
    for key in ("create_flow_run", "run_deployment_timeout_0", "raw_http_create_flow_run"):
        mine, other = summary(ours[key]), summary(theirs[key])
        result[key] = {"flowplan_server": mine, "prefect_server": other,
                       "speedup": round(other["median_s"] / mine["median_s"], 1)}  # fmt: skip
    result["server_start_to_first_answer"] = summary(starts)
    result["server_stop_on_sigterm"] = summary(stops)
    result["idle_rss_mb"] = idle
    speedup = result["create_flow_run"]["speedup"]  # type: ignore[index]
    result["load_average"] = os.getloadavg()[0]  # the machine is shared: medians move with it
    result["meets_target"] = bool(speedup >= 5 and idle <= 80
                                  and summary(starts)["median_s"] < 1)  # fmt: skip
    write("server", result)


if __name__ == "__main__":
    main()
