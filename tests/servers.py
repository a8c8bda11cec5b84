"""Real servers for tests, started on 127.0.0.1: git daemon, a private https git server,
podman's Docker API and a registry. Each fails loudly when it cannot start."""

from __future__ import annotations

import base64
import os
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """End a process started in its own session, with its children: SIGTERM, then SIGKILL
    after 20 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for(check, what: str, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start within {timeout} s")


def git(*args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}  # fmt: skip
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          check=True)  # fmt: skip
    return done.stdout.strip()


def make_repository(root: Path, name: str = "flows-repo") -> Path:
    """A bare repository with `main` (flows/etl.py, docs/) and `feature/x` branches."""
    work = root / f"{name}-work"
    work.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=work)
    (work / "flows").mkdir()
    (work / "flows" / "etl.py").write_text(
        "from prefect import flow\n\n@flow\ndef etl():\n    pass\n"
    )
    (work / "docs").mkdir()
    (work / "docs" / "readme.md").write_text("docs\n")
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    git("checkout", "-q", "-b", "feature/x", cwd=work)
    (work / "feature.txt").write_text("x\n")
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "feature", cwd=work)
    git("checkout", "-q", "main", cwd=work)
    bare = root / "served" / f"{name}.git"
    bare.parent.mkdir(exist_ok=True)
    git("clone", "-q", "--bare", str(work), str(bare))
    return bare


def make_repository_with_submodule(root: Path) -> Path:
    """`app.git` with the submodule `lib` -> `../lib.git` (relative: served wherever app is)."""
    lib = make_repository(root, "lib")
    work = root / "app-work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    git("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "lib", cwd=work)
    git("config", "-f", ".gitmodules", "submodule.lib.url", "../lib.git", cwd=work)
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "app with lib", cwd=work)
    bare = root / "served" / "app.git"
    git("clone", "-q", "--bare", str(work), str(bare))
    return bare


@contextmanager
def git_daemon(base: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={base}",
         "--listen=127.0.0.1", f"--port={port}", str(base)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for(lambda: _listening(port) or process.poll() is not None, "git daemon")
        if process.poll() is not None:
            raise RuntimeError(f"git daemon failed: {process.stderr.read().decode()}")  # type: ignore[union-attr]
        yield f"git://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def private_https_git(base: Path, token: str) -> Iterator[str]:
    """Smart HTTP (git http-backend) over TLS, answering only requests that carry `token`."""
    certificate = base / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(certificate),
                    "-out", str(certificate)], capture_output=True, check=True)  # fmt: skip
    backend = Path(subprocess.run(["git", "--exec-path"], capture_output=True, text=True,
                                  check=True).stdout.strip()) / "git-http-backend"  # fmt: skip
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: curl answers the 401 on the same connection

        def log_message(self, *args: object) -> None:
            pass

        def _serve(self) -> None:
            header = self.headers.get("Authorization", "")
            seen.append(header)
            credentials = (
                base64.b64decode(header[6:]).decode() if header.startswith("Basic ") else ""
            )
            if token not in credentials.split(":"):
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            env = {**os.environ, "GIT_PROJECT_ROOT": str(base / "served"),
                   "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path, "QUERY_STRING": query,
                   "REQUEST_METHOD": self.command, "REMOTE_USER": "ci",
                   "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                   "CONTENT_LENGTH": str(len(body))}  # fmt: skip
            done = subprocess.run([str(backend)], input=body, env=env, capture_output=True,
                                  check=False)  # fmt: skip
            head, _, payload = done.stdout.partition(b"\r\n\r\n")
            status = 200
            headers = []
            for line in head.decode().split("\r\n"):
                key, _, value = line.partition(":")
                if key.lower() == "status":
                    status = int(value.split()[0])
                elif key:
                    headers.append((key, value.strip()))
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = _serve
        do_POST = _serve

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def remove_container(client: Any, container: str) -> None:
    """Remove a container of `client` (a `docker.DockerClient`), waiting while podman still
    cleans it up after it stopped (it answers 500 "container state improper" meanwhile)."""
    import docker.errors

    def removed() -> bool:
        try:
            client.api.remove_container(container, force=True)
        except docker.errors.NotFound:
            return True
        except docker.errors.APIError as exc:
            if "state improper" not in str(exc):
                raise
            return False
        return True

    wait_for(removed, "podman to let the container go", 30)


@dataclass
class DockerEngine:
    host: str  # DOCKER_HOST value
    registry: str  # 127.0.0.1:PORT
    readonly_registry: str  # a registry in read-only mode: it refuses every push


@contextmanager
def docker_engine(base: Path) -> Iterator[DockerEngine]:
    """`podman system service` (runc, cgroupfs, vfs, nofile 1024) and Debian's docker-registry,
    with the registry marked insecure for podman."""
    for tool in ("podman", "docker-registry", "runc"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed (make test installs it with apt-get)")
    port, readonly_port = free_port(), free_port()
    # (without CAP_SYS_RESOURCE runc cannot set the host's own nproc limit, but 32768 works)
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1] % (1 << 62), 32768)
    registry, readonly = f"127.0.0.1:{port}", f"127.0.0.1:{readonly_port}"
    (base / "registry.yml").write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {base / 'registry-data'}\n"
        f"http:\n  addr: {registry}\n"
    )
    (base / "readonly.yml").write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {base / 'readonly-data'}\n"
        f"  maintenance:\n    readonly:\n      enabled: true\nhttp:\n  addr: {readonly}\n"
    )
    (base / "containers.conf").write_text(
        '[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\nevents_logger = "file"\n'
        f'events_logfile_path = "{base / "events.log"}"\n'
        '[containers]\nnetns = "host"\n'
        # Containers get limits this machine allows (podman's defaults exceed them: runc fails)
        f'default_ulimits = ["nofile=1024:1024", "nproc={nproc}:{nproc}"]\n'
    )
    (base / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\nrunroot = "{base / "run"}"\ngraphroot = "{base / "graph"}"\n'
    )
    (base / "registries.conf").write_text(
        f'[[registry]]\nlocation = "{registry}"\ninsecure = true\n'
    )
    env = {**os.environ, "CONTAINERS_CONF": str(base / "containers.conf"),
           "CONTAINERS_STORAGE_CONF": str(base / "storage.conf"),
           "CONTAINERS_REGISTRIES_CONF": str(base / "registries.conf")}  # fmt: skip
    socket_path = base / "podman.sock"
    podman = subprocess.Popen(
        ["sh", "-c", f'ulimit -n 1024 && exec podman system service --time=0 "unix://{socket_path}"'],
        env=env, stdout=subprocess.DEVNULL, stderr=open(base / "podman.log", "w"),  # noqa: SIM115
    )  # fmt: skip
    registries = [
        subprocess.Popen(
            ["docker-registry", "serve", str(base / f"{name}.yml")],
            stdout=subprocess.DEVNULL,
            stderr=open(base / f"{name}.log", "w"),  # noqa: SIM115
        )
        for name in ("registry", "readonly")
    ]
    try:
        wait_for(socket_path.exists, f"podman system service ({base / 'podman.log'})")
        wait_for(lambda: _listening(port), f"docker-registry ({base / 'registry.log'})")
        wait_for(lambda: _listening(readonly_port), f"docker-registry ({base / 'readonly.log'})")
        yield DockerEngine(f"unix://{socket_path}", registry, readonly)
    finally:
        for process in (podman, *registries):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
