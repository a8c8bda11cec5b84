"""A real Prefect server for the tests: installed in .venv-prefect by `make test`, started on a
free 127.0.0.1 port with its own PREFECT_HOME and SQLite file (UI and analytics off), health-
checked before use, stopped after. It fails loudly when it cannot start. A small proxy in front
of it counts requests and can answer with injected errors (429, 503) to test retries."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO
from urllib.parse import quote

import httpx

from tests.servers import free_port, stop_group

ROOT = Path(__file__).resolve().parent.parent
PREFECT_VENV = ROOT / ".venv-prefect"
PREFECT = PREFECT_VENV / "bin" / "prefect"


def prefect_env(home: Path, api_url: str | None = None, database: str | None = None
                ) -> dict[str, str]:  # fmt: skip
    """Prefect's settings for the tests; `database` is the server's connection URL (default:
    a SQLite file in `home`)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false", PREFECT_SERVER_UI_ENABLED="false",
        PREFECT_API_DATABASE_CONNECTION_URL=database or f"sqlite+aiosqlite:///{home}/prefect.db",
        PREFECT_CLI_PROMPT="false",
    )  # fmt: skip
    env.pop("FLOWPLAN_API_URL", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class PrefectServer:
    url: str  # ends in /api
    home: Path
    process: subprocess.Popen[bytes]
    database: str = "sqlite"  # or "postgresql"

    def cli(self, *args: str, cwd: Path | None = None, url: str | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:  # fmt: skip
        """Prefect's own CLI against this server."""
        return subprocess.run(
            [str(PREFECT), *args], cwd=cwd, env=prefect_env(self.home, url or self.url),
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip


@contextmanager
def prefect_server(base: Path, database: str | None = None, workers: int = 1
                   ) -> Iterator[PrefectServer]:  # fmt: skip
    """A Prefect server on SQLite, or on the database at `database` (a SQLAlchemy URL such as
    postgresql+asyncpg://user@127.0.0.1:5432/prefect). `workers` > 1 (PostgreSQL only) runs
    that many API processes as Prefect's multi-worker setup asks: Redis for messaging (a
    throwaway redis-server), the database migrated and the block types registered by one
    single-process start first (concurrent starts on a fresh database collide on both)."""
    if not PREFECT.exists():
        raise RuntimeError(f"{PREFECT} is missing: run 'bash scripts/prefect-venv.sh' (make test)")
    home = base / "prefect-home"
    home.mkdir(parents=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = prefect_env(home, database=database)
    argv = [str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with ExitStack() as stack:
        log = stack.enter_context(open(base / "prefect-server.log", "wb"))
        if workers > 1:
            env.update(_redis_settings(stack.enter_context(_redis())))
            with _running([*argv, "--no-services"], env, log, url, base):
                pass  # healthy: migrated, block types registered
            env.update(PREFECT_API_DATABASE_MIGRATE_ON_START="false",
                       PREFECT_API_BLOCKS_REGISTER_ON_START="false")  # fmt: skip
            argv += ["--workers", str(workers)]
        process = stack.enter_context(_running(argv, env, log, url, base))
        kind = "postgresql" if database and database.startswith("postgresql") else "sqlite"
        yield PrefectServer(url, home, process, kind)


@contextmanager
def _running(argv: list[str], env: dict[str, str], log: IO[bytes], url: str, base: Path
             ) -> Iterator[subprocess.Popen[bytes]]:  # fmt: skip
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (base / "prefect-server.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"the Prefect server did not start:\n{tail}")
            time.sleep(0.2)
        yield process
    finally:
        stop_group(process)


@contextmanager
def _redis() -> Iterator[int]:
    """A throwaway redis-server on a free 127.0.0.1 port, nothing saved to disk."""
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def _redis_settings(port: int) -> dict[str, str]:
    return {
        "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
        "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
        "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
        "PREFECT_REDIS_MESSAGING_HOST": "127.0.0.1",
        "PREFECT_REDIS_MESSAGING_PORT": str(port),
        "PREFECT_REDIS_MESSAGING_DB": "0",
    }


@dataclass
class Proxy:
    """Forwards to `upstream`; records `METHOD path` of every request. `inject` holds answers
    to give to writes instead of forwarding them (a status; or a status and a JSON body; or
    those and the `METHOD /api/path` prefix of the write they are for), first in first out;
    `token` makes it refuse requests without that bearer token (401), as Prefect Cloud does;
    `stop_after` N writes, it stops listening and drops open connections (a server gone)."""

    upstream: str
    url: str = ""
    seen: list[str] = field(default_factory=list)
    inject: list[int | tuple[int, str] | tuple[int, str, str]] = field(default_factory=list)
    token: str | None = None
    stop_after: int | None = None
    stopped: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def writes(self) -> list[str]:
        with self.lock:
            return [line for line in self.seen if not _is_read(line)]

    def reset(self) -> None:
        with self.lock:
            self.seen.clear()
            self.inject.clear()
            self.token = None


def _take(inject: list[int | tuple[int, str] | tuple[int, str, str]], line: str
          ) -> int | tuple[int, str] | None:  # fmt: skip
    if _is_read(line):
        return None
    for index, item in enumerate(inject):
        if isinstance(item, int) or len(item) == 2:
            return inject.pop(index)  # type: ignore[return-value]
        if line.startswith(item[2]):
            inject.pop(index)
            return item[0], item[1]
    return None


def _stop(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.socket.close()  # new connections are refused from now on


def _is_read(line: str) -> bool:
    method, _, path = line.partition(" ")
    return method == "GET" or path.endswith(("/filter", "/count", "/paginate"))


@contextmanager
def proxy(upstream: str) -> Iterator[Proxy]:
    state = Proxy(upstream)
    origin = upstream.rsplit("/api", 1)[0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else None
            with state.lock:
                if state.stopped:
                    self.close_connection = True
                    return
                line = f"{self.command} {self.path.split('?')[0]}"
                state.seen.append(line)
                injected = _take(state.inject, line)
                if state.token and self.headers.get("authorization") != f"Bearer {state.token}":
                    injected = (401, '{"detail": "Unauthorized"}')
                writes = [seen for seen in state.seen if not _is_read(seen)]
                if state.stop_after is not None and len(writes) > state.stop_after:
                    state.stopped = True
                    threading.Thread(target=_stop, args=(server,)).start()
                    self.close_connection = True
                    return
            if injected is not None:
                status, text = injected if isinstance(injected, tuple) else (injected, "")
                payload = (text or '{"detail": "injected"}').encode()
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0.05")
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("host", "content-length", "connection",
                                             "accept-encoding")}  # fmt: skip
            request = urllib.request.Request(origin + self.path, data=body, headers=headers,
                                             method=self.command)  # fmt: skip
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    status, data, kind = response.status, response.read(), response.headers
            except urllib.error.HTTPError as error:
                status, data, kind = error.code, error.read(), error.headers
            self.send_response(status)
            self.send_header("content-type", kind.get("content-type") or "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.allow_reuse_address = True
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/api"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        if not state.stopped:
            server.shutdown()
        server.server_close()


def reset(server_url: str) -> None:
    """Delete everything a test may have made: deployments, flows, runs, pools (not Prefect's
    own), variables and secret blocks."""
    from flowplan.backends.prefect.http import Api

    api = Api(server_url)
    try:
        for path, key in (("deployments", "id"), ("flow_runs", "id"), ("flows", "id")):
            for item in list(api.filter(f"{path}/filter")):
                api.delete(f"{path}/{item[key]}")
        for pool in list(api.filter("work_pools/filter")):
            if not pool["name"].lower().startswith("prefect"):
                api.delete(f"work_pools/{quote(pool['name'], safe='')}")
        for variable in list(api.filter("variables/filter")):
            api.delete(f"variables/name/{quote(variable['name'], safe='')}")
        for document in api.get("block_types/slug/secret/block_documents"):
            api.delete(f"block_documents/{document['id']}")
        for automation in list(api.filter("automations/filter")):
            api.delete(f"automations/{automation['id']}")
    finally:
        api.close()


class _RetryUnavailable(httpx.HTTPTransport):
    """Prefect's server answers 503 while its SQLite database is busy (its scheduler writes
    too); Prefect's own client retries that, and so does this one: a few times, briefly."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for attempt in range(5):
            response = super().handle_request(request)
            if response.status_code != 503 or attempt == 4:
                return response
            response.close()
            time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")


def api_client(url: str) -> httpx.Client:
    """A plain HTTP client for the server's API, as a test changes things behind flowplan."""
    return httpx.Client(base_url=url + "/", transport=_RetryUnavailable())
