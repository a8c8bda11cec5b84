"""The Prefect API client's transport (the standard library's http.client): a forward proxy
from HTTP_PROXY/HTTPS_PROXY unless NO_PROXY exempts the server, TLS through a proxy's CONNECT
tunnel still verified, connections the server closed while idle replaced, not failed."""

from __future__ import annotations

import json
import select
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from flowplan.backends.prefect.http import Api
from flowplan.backends.prefect.transport import bypassed
from flowplan.errors import FlowplanError
from tests.servers import private_https_git


class _Proxy(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[str]


class _ProxyHandler(BaseHTTPRequestHandler):
    """Answers plain-HTTP requests itself (saying what it was asked) and tunnels CONNECT."""

    protocol_version = "HTTP/1.1"
    server: _Proxy

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append(f"GET {self.path}")
        body = json.dumps({"via": "proxy", "asked": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_CONNECT(self) -> None:
        self.server.seen.append(f"CONNECT {self.path}")
        host, _, port = self.path.rpartition(":")
        upstream = socket.create_connection((host, int(port)))
        self.send_response(200, "Connection established")
        self.end_headers()
        ends = [self.connection, upstream]
        while True:
            for end in select.select(ends, [], [], 10)[0]:
                data = end.recv(65536)
                if not data:
                    upstream.close()
                    return
                (upstream if end is self.connection else self.connection).sendall(data)


@pytest.fixture
def forward_proxy() -> Iterator[_Proxy]:
    server = _Proxy(("127.0.0.1", 0), _ProxyHandler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_plain_http_server_is_reached_through_http_proxy(
    forward_proxy: _Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{forward_proxy.server_address[1]}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    api = Api("http://prefect.example:4200/api", retries=1, backoff=0.0)
    answer = api.get("health", limit=3)
    api.close()
    assert answer == {"via": "proxy", "asked": "http://prefect.example:4200/api/health?limit=3"}
    assert forward_proxy.seen == ["GET http://prefect.example:4200/api/health?limit=3"]


def test_no_proxy_exempts_the_server(
    forward_proxy: _Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{forward_proxy.server_address[1]}")
    monkeypatch.setenv("NO_PROXY", "localhost,.invalid")
    api = Api("http://prefect.invalid:4200/api", retries=1, backoff=0.0, sleep=lambda s: None)
    with pytest.raises(FlowplanError, match="cannot reach the Prefect API at http://prefect"):
        api.get("health")  # tried directly: the name does not resolve
    api.close()
    assert forward_proxy.seen == []


def test_https_goes_through_the_proxys_tunnel_and_is_still_verified(
    forward_proxy: _Proxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{forward_proxy.server_address[1]}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with private_https_git(tmp_path, "token") as url:
        api = Api(url + "/api", retries=1, backoff=0.0, sleep=lambda s: None)
        with pytest.raises(FlowplanError) as caught:
            api.get("health")
        api.close()
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)  # the TLS server, through the tunnel
    assert forward_proxy.seen and set(forward_proxy.seen) == {f"CONNECT {url[8:]}"}


def test_a_kept_connection_the_server_closed_is_replaced() -> None:
    """The server answers with keep-alive, then closes each connection after one request (as
    a server's idle timeout does): every later request still gets its answer, writes too."""
    connections: list[int] = []

    class OneShot(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            connections.append(self.client_address[1])
            body = json.dumps({"n": len(connections)}).encode()
            self.send_response(201)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True  # without saying so: the client kept it

    closed = threading.Semaphore(0)

    class Server(ThreadingHTTPServer):
        def shutdown_request(self, request: object) -> None:
            super().shutdown_request(request)  # type: ignore[arg-type]
            closed.release()  # closed on loopback: the client's socket has its FIN now

    server = Server(("127.0.0.1", 0), OneShot)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        api = Api(f"http://127.0.0.1:{server.server_address[1]}/api", retries=0)
        answers = []
        for _ in range(3):
            answers.append(api.post("deployments/", {"name": "x"})["n"])
            assert closed.acquire(timeout=30)  # idle until the server closed it
        api.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert answers == [1, 2, 3]
    assert len(set(connections)) == 3  # each on a new connection


def test_a_path_is_escaped_once(forward_proxy: _Proxy, monkeypatch: pytest.MonkeyPatch) -> None:
    """A name with a space or a non-ASCII letter in the path reaches the server escaped; a
    path its caller escaped already is sent as it is (not escaped twice)."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{forward_proxy.server_address[1]}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    api = Api("http://prefect.example/api", retries=0)
    api.get("work_pools/Claude CICD é")
    api.get("work_pools/a%20b%2Fc")
    api.close()
    assert forward_proxy.seen == [
        "GET http://prefect.example:80/api/work_pools/Claude%20CICD%20%C3%A9",
        "GET http://prefect.example:80/api/work_pools/a%20b%2Fc",
    ]


@pytest.mark.parametrize(
    ("host", "no_proxy", "exempt"),
    [
        ("prefect.example.com", "*", True),
        ("prefect.example.com", "example.com", True),
        ("prefect.example.com", ".example.com", True),
        ("example.com", ".example.com", True),
        ("PREFECT.Example.com.", "example.COM", True),
        ("prefect.example.com", "other.com, example.com", True),
        ("notexample.com", "example.com", False),
        ("prefect.example.com", "", False),
        ("prefect.example.com", ",,", False),
        ("prefect.example.com", "prefect.example", False),
    ],
)
def test_no_proxy_as_curl_reads_it(host: str, no_proxy: str, exempt: bool) -> None:
    assert bypassed(host, no_proxy) is exempt
