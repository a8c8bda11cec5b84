"""A real `flowplan server start` process for the tests, on a free port, over a store of the
test's own; stopped (SIGTERM) afterwards. It fails loudly when it does not start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.servers import free_port, stop_group


@dataclass
class FlowplanServer:
    url: str  # ends in /api
    process: subprocess.Popen[str]
    log: Path

    def output(self) -> str:
        return self.log.read_text()

    def call(self, method: str, path: str, body: Any = None, *, token: str | None = None,
             raw: bytes | None = None) -> tuple[int, Any]:  # fmt: skip
        """`method /api<path>`: the status and the decoded JSON answer (None when empty)."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("content-type", "application/json")
        if token is not None:
            request.add_header("authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        return status, json.loads(text) if text else None


def server_env(home: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PREFECT_", "FLOWPLAN_"))}  # fmt: skip
    env.update(FLOWPLAN_HOME=str(home), NO_COLOR="1", **extra)
    return env


@contextmanager
def flowplan_server(home: Path, *args: str, host: str = "127.0.0.1",
                    env: dict[str, str] | None = None) -> Iterator[FlowplanServer]:  # fmt: skip
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    log = home / f"server-{port}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "flowplan", "server", "start", "--host", host, "--port",
         str(port), *args],
        env=env or server_env(home), stdout=log.open("w"), stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    shown = f"[{host}]" if ":" in host else host
    server = FlowplanServer(f"http://{shown}:{port}/api", process, log)
    try:
        deadline = time.monotonic() + 30
        while "PREFECT_API_URL=" not in server.output():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"flowplan server did not start:\n{server.output()}")
            time.sleep(0.02)
        yield server
    finally:
        stop_group(process)
