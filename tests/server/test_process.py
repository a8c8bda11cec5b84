"""The server process: the token rule on a non-loopback bind (127.0.0.2: only 127.0.0.1, ::1 and
localhost are exempt), the body limit, stopping on SIGTERM and Ctrl-C, sharing the store with
the CLI and another server, and a port that is taken."""

from __future__ import annotations

import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.flowplan_server import flowplan_server, server_env
from tests.runtime.helpers import deployment, store


def test_a_non_loopback_bind_needs_the_generated_token(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with flowplan_server(home, host="127.0.0.2") as server:
        token_file = home / "server-token"
        token = token_file.read_text().strip()
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert f"Token (generated into {token_file}): {token}" in server.output()
        status, answer = server.call("POST", "/deployments/filter", {})
        assert (status, answer) == (401, {"detail": "Unauthorized: send 'Authorization: Bearer"
                                                    " <token>'"})  # fmt: skip
        assert server.call("POST", "/deployments/filter", {}, token="wrong" * 8)[0] == 401
        assert server.call("GET", "/openapi.json")[0] == 401
        assert server.call("POST", "/deployments/filter", {}, token=token) == (200, [])
        assert server.call("GET", "/health") == (200, True)  # open, as on Prefect's server
        assert "POST /api/deployments/filter 401" in server.output()  # refusals are logged
    with flowplan_server(home, host="127.0.0.2") as again:  # the same token next time
        assert f"Token (from {token_file}): {token}" in again.output()
        assert again.call("POST", "/flows/filter", {}, token=token) == (200, [])


def test_a_given_token_is_required_and_not_printed(tmp_path: Path) -> None:
    given = "a-token-of-my-own-1234"
    env = server_env(tmp_path / "home", FLOWPLAN_SERVER_TOKEN=given)
    with flowplan_server(tmp_path / "home", host="127.0.0.2", env=env) as server:
        assert server.call("POST", "/flows/filter", {})[0] == 401
        assert server.call("POST", "/flows/filter", {}, token=given) == (200, [])
        assert given not in server.output()
    assert not (tmp_path / "home" / "server-token").exists()


def test_a_loopback_bind_needs_no_token(tmp_path: Path) -> None:
    with flowplan_server(tmp_path / "home") as server:
        assert server.call("POST", "/flows/filter", {}) == (200, [])
        assert "Token" not in server.output()
    assert not (tmp_path / "home" / "server-token").exists()


def test_a_short_token_is_refused_before_listening(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flowplan", "server", "start", "--token", "short"],
        env=server_env(tmp_path / "home"), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Error: the server token must have at least 16 characters" in done.stderr


def test_a_body_over_the_limit_is_refused(tmp_path: Path) -> None:
    with flowplan_server(tmp_path / "home") as server:
        status, answer = server.call("POST", "/flows/filter", raw=b" " * (1024 * 1024 + 1))
        assert status == 413
        assert answer == {"detail": "the body has 1048577 bytes; this server takes at most 1048576"}
        assert server.call("POST", "/flows/filter", {}) == (200, [])  # and it goes on


def test_a_client_still_sending_a_refused_body_reads_the_answer(tmp_path: Path) -> None:
    """The server answers 413 from the headers; what the client sends after that is read and
    dropped, not refused with a reset connection (a broken pipe in the client, the answer
    lost)."""
    size = 3 * 1024 * 1024
    with flowplan_server(tmp_path / "home") as server:
        host_port = server.url.split("//", 1)[1].split("/", 1)[0]
        host, port = host_port.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=30) as client:
            client.sendall(b"POST /api/flows/filter HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Type: application/json\r\n"
                           b"Content-Length: %d\r\n\r\n" % size)  # fmt: skip
            answer = client.recv(65536)  # the answer comes before any of the body
            assert answer.startswith(b"HTTP/1.1 413 ")
            time.sleep(0.2)  # the server is done with the request by now
            client.sendall(b" " * size)  # all of it goes through
            while chunk := client.recv(65536):
                answer += chunk
        assert answer.endswith(b'this server takes at most 1048576"}')


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_stop_it_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    with flowplan_server(tmp_path / "home") as server:
        server.process.send_signal(sig)
        assert server.process.wait(20) == 0
        assert server.output().endswith(f"Stopping ({sig.name})\nStopped.\n")


def test_servers_and_the_cli_share_the_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    backend = store(home)
    made = deployment(backend, tmp_path)
    with flowplan_server(home) as first, flowplan_server(home) as second:
        status, run = first.call("POST", f"/deployments/{made.id}/create_flow_run", {})
        assert status == 201
        assert second.call("GET", f"/flow_runs/{run['id']}")[1]["id"] == run["id"]
        listed = subprocess.run([sys.executable, "-m", "flowplan", "flow-run", "ls"],
                                env=server_env(home), capture_output=True, text=True,
                                timeout=60)  # fmt: skip
        assert run["name"] in listed.stdout


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "flowplan", "server", "start", "--port", str(port)],
            env=server_env(tmp_path / "home"), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 1
    assert f"Error: cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr


def test_concurrent_clients_each_get_their_run(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    home = tmp_path / "home"
    backend = store(home)
    made = deployment(backend, tmp_path)
    with flowplan_server(home) as server:

        def create(n: int) -> tuple[int, str]:
            status, run = server.call("POST", f"/deployments/{made.id}/create_flow_run",
                                      {"name": f"run-{n}"})  # fmt: skip
            return status, run["name"]

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(create, range(200)))
    assert {status for status, _ in answers} == {201}
    assert sorted(run.name for run in backend.read_flow_runs()) == sorted(
        f"run-{n}" for n in range(200))  # fmt: skip


def test_flowplans_own_prefect_backend_reads_through_the_server(tmp_path: Path) -> None:
    """`--api-url` at a flowplan server: flowplan's Prefect backend lists and runs deployments
    of the server's store, from a machine (here: a home) without that store."""
    import json

    home = tmp_path / "home"
    backend = store(home)
    deployment(backend, tmp_path)
    with flowplan_server(home) as server:
        elsewhere = server_env(tmp_path / "elsewhere")
        listed = subprocess.run(
            [sys.executable, "-m", "flowplan", "--api-url", server.url, "deployment", "ls",
             "--output", "json"], env=elsewhere, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        assert [d["name"] for d in json.loads(listed.stdout)] == ["d"]
        ran = subprocess.run(
            [sys.executable, "-m", "flowplan", "--api-url", server.url, "deployment", "run",
             "f/d"], env=elsewhere, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
    assert len(backend.read_flow_runs()) == 1


def test_ipv6_loopback_needs_no_token(tmp_path: Path) -> None:
    with flowplan_server(tmp_path / "home", host="::1") as server:
        assert server.url.startswith("http://[::1]:")
        assert server.call("POST", "/flows/filter", {}) == (200, [])
        assert f"PREFECT_API_URL={server.url}" in server.output()


def test_port_0_takes_a_free_port_and_says_which(tmp_path: Path) -> None:
    import re
    import urllib.request

    log = tmp_path / "server.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "flowplan", "server", "start", "--port", "0"],
        env=server_env(tmp_path / "home"), stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        from tests.integration.workers import wait_for

        found = wait_for("the server's URL", lambda: re.search(
            r"PREFECT_API_URL=(http://127\.0\.0\.1:(\d+)/api)", log.read_text()))  # fmt: skip
        assert int(found.group(2)) > 0
        with urllib.request.urlopen(found.group(1) + "/health", timeout=30) as response:
            assert response.read() == b"true"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0


def test_a_chunked_body_is_refused_with_411(tmp_path: Path) -> None:
    with flowplan_server(tmp_path / "home") as server:
        port = int(server.url.rsplit(":", 1)[1].split("/")[0])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall(b"POST /api/flows/filter HTTP/1.1\r\nHost: x\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")  # fmt: skip
            answer = b""
            while chunk := conn.recv(4096):
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 411 ")
        assert body == b'{"detail":"send the body with a Content-Length"}'


def test_head_answers_as_get_without_a_body(tmp_path: Path) -> None:
    import urllib.request

    with flowplan_server(tmp_path / "home", host="127.0.0.2") as server:
        request = urllib.request.Request(server.url + "/health", method="HEAD")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert (response.status, response.headers["content-length"]) == (200, "4")
            assert response.read() == b""
