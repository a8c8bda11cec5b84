"""The web UI through a real `flowplan server start` process: pages answer as HTML with their
security headers, the API keeps its JSON answers, bodies keep their limit."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from pathlib import Path

from tests.flowplan_server import flowplan_server


def fetch(
    url: str, method: str = "GET", data: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


def test_pages_and_the_api_side_by_side(tmp_path: Path) -> None:
    with flowplan_server(tmp_path / "home") as server:
        base = server.url[: -len("/api")]
        assert f"Web UI: {base}/" in server.output()
        status, headers, body = fetch(base + "/")
        assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
        assert headers["content-security-policy"].startswith("default-src 'self';")
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert b"<h1>Dashboard</h1>" in body
        assert fetch(base + "/", "HEAD")[2] == b""
        status, headers, body = fetch(base + "/nothing-here")
        assert status == 404 and b"No page at /nothing-here." in body
        status, headers, body = fetch(server.url + "/nothing-here")  # the API's own 404
        assert status == 404 and headers["content-type"] == "application/json"
        assert fetch(server.url + "/health")[2] == b"true"
        # the limit is read from the headers: the body is never sent (no race with the close)
        host, port = base.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.putrequest("POST", "/deployments/x/pause")
        connection.putheader("content-length", str(1024 * 1024 + 1))
        connection.endheaders()
        assert connection.getresponse().status == 413
        connection.close()
