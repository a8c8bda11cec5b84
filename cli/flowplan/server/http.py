"""The HTTP layer, on the standard library's `http.server` (one thread per connection,
keep-alive): the token check, the body limit, JSON in and out, and errors as Prefect gives them.
Every request is answered; a bug answers 500 without its text (which may hold values) and its
traceback goes to the server's stderr."""

from __future__ import annotations

import json
import socket
import sys
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flowplan.errors import FlowplanError, InvalidInput, ObjectNotFound, StoreError
from flowplan.server import auth, compat, hooks, streams, websocket
from flowplan.server.changes import ChangeWatch
from flowplan.server.router import ApiError, Reply, Request, Router, invalid_body, not_served

if TYPE_CHECKING:
    from flowplan.backends.local import LocalBackend
    from flowplan.server.ui_app import UiServer

MAX_BODY = 1024 * 1024  # bytes; larger bodies answer 413
LINGER_SECONDS = 2.0  # how long the body of a refused request is read and dropped, at most
LINGER_BYTES = 16 * 1024 * 1024  # and how much of it
PREFIX = "/api"
_OPEN = {
    ("GET", "/api/health"),
    ("HEAD", "/api/health"),
}  # answered without a token, as Prefect's server does
_UNVERSIONED = {"/api/health", "/api/ready", "/api/version", "/api/openapi.json"}
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def make_handler(
    backend: LocalBackend,
    router: Router,
    token: str | None,
    openapi: Callable[[], dict[str, Any]],
    max_body: int = MAX_BODY,
    ui: UiServer | None = None,
    on_event: Callable[[], None] | None = None,
) -> type[BaseHTTPRequestHandler]:
    changes = ChangeWatch(backend.store.path)  # one per server, for its streams

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "flowplan"
        disable_nagle_algorithm = True  # small JSON answers go out at once
        timeout = 60  # seconds a connection may stay silent: idle ones do not hold threads
        body_read = True  # False while a request is answered until its body is read

        def log_message(self, format: str, *args: Any) -> None:
            pass  # answers are logged by _log, errors only

        def _answer(self) -> None:
            started = time.monotonic()
            self.body_read = False
            path = urlsplit(self.path).path.rstrip("/") or "/"
            if path.startswith(hooks.PREFIX):
                self._answer_hook(path)
                return
            if (
                path in streams.PATHS
                and self.command == "GET"
                and "websocket" in (self.headers.get("upgrade") or "").lower()
            ):
                self._answer_websocket(path)
                return
            if ui is not None and path != PREFIX and not path.startswith(PREFIX + "/"):
                self._answer_ui(ui)
                return
            try:
                status, payload = self._handle(path)
            except ApiError as exc:
                status, payload = exc.status, exc.payload
            except Exception:
                status, payload = 500, {"detail": "Internal server error (see the server's log)"}
                sys.stderr.write(traceback.format_exc())
            self._send(status, payload)
            if status >= 500 or status in (401, 411, 413):
                _log(f"{self.command} {path} {status} "
                     f"{(time.monotonic() - started) * 1000:.1f} ms")  # fmt: skip

        def _handle(self, path: str) -> tuple[int, Any]:
            if (self.command, path) not in _OPEN and not auth.authorized(
                self.headers.get("authorization"), token
            ):
                self.close_connection = True  # its body, if any, is not read
                raise ApiError(401, "Unauthorized: send 'Authorization: Bearer <token>'")
            body = self._body()
            problem = compat.api_version_problem(self.headers.get("x-prefect-api-version"))
            if problem and path not in _UNVERSIONED:
                raise ApiError(400, problem)
            if path == f"{PREFIX}/openapi.json" and self.command in ("GET", "HEAD"):
                return 200, openapi()
            if not path.startswith(PREFIX + "/"):
                raise ApiError(404, not_served(path))
            method = "GET" if self.command == "HEAD" else self.command
            route, params = router.match(method, path[len(PREFIX) :])
            try:
                request = Request(self.command, path, params, body, urlsplit(self.path).query,
                                  self.headers.get("host") or "")  # fmt: skip
                result = route.handler(backend, request)
            except ObjectNotFound as exc:
                raise ApiError(404, str(exc)) from None
            except StoreError as exc:
                raise ApiError(503, str(exc)) from None
            except InvalidInput as exc:
                raise ApiError(422, str(exc)) from None
            except FlowplanError as exc:
                raise ApiError(409, str(exc)) from None
            reply = result if isinstance(result, Reply) else Reply(result)
            return reply.status, reply.payload

        def _answer_hook(self, path: str) -> None:
            """A webhook: no token (its slug is the secret), a smaller body limit."""
            try:
                raw = self._raw_body(hooks.MAX_BODY)
                headers = {key.lower(): value for key, value in self.headers.items()}
                answer = hooks.receive(backend, self.command, path[len(hooks.PREFIX) :], headers,
                                       urlsplit(self.path).query, raw, on_event)  # fmt: skip
            except ApiError as exc:
                answer = hooks.HookAnswer(exc.status, str(exc.detail))
            except StoreError as exc:
                answer = hooks.HookAnswer(503, str(exc))
            except Exception:
                answer = hooks.HookAnswer(500, "Internal server error (see the server's log)")
                sys.stderr.write(traceback.format_exc())
            if answer.status == 204:
                self.send_response(204)
                self.send_header("x-flowplan-event-id", answer.event_id or "")
                self.send_header("content-length", "0")
                if self.close_connection:
                    self.send_header("connection", "close")
                self.end_headers()
                return
            self._send(answer.status, {"detail": answer.detail})

        def _answer_websocket(self, path: str) -> None:
            """Prefect's event or log stream. The token is the `Authorization` header's or,
            as Prefect's client sends it, the first message's."""
            key = self.headers.get("sec-websocket-key")
            self.close_connection = True
            if not key or self.headers.get("sec-websocket-version") != "13":
                self._send(400, {"detail": "a websocket upgrade needs Sec-WebSocket-Key and"
                                           " Sec-WebSocket-Version: 13"})  # fmt: skip
                return
            self.send_response(101)
            self.send_header("upgrade", "websocket")
            self.send_header("connection", "Upgrade")
            self.send_header("sec-websocket-accept", websocket.accept_key(key))
            offered = [item.strip() for item in
                       (self.headers.get("sec-websocket-protocol") or "").split(",")]  # fmt: skip
            if "prefect" in offered:
                self.send_header("sec-websocket-protocol", "prefect")
            self.end_headers()
            self.wfile.flush()
            self.connection.settimeout(120)  # Prefect's client pings every 20 s
            header_ok = token is not None and auth.authorized(self.headers.get("authorization"),
                                                              token)  # fmt: skip
            try:
                streams.serve(path, websocket.Socket(self.rfile, self.wfile), backend,
                              None if header_ok else token, changes)  # fmt: skip
            except Exception:
                sys.stderr.write(traceback.format_exc())

        def _answer_ui(self, ui: UiServer) -> None:
            from flowplan.server.ui_app import HEADERS
            from flowplan.server.ui_core import Answer

            try:
                raw = self._raw_body()
                headers = {key.lower(): value for key, value in self.headers.items()}
                answer = ui.answer(self.command, self.path, headers, raw)
            except ApiError as exc:
                answer = Answer(exc.status, f"{exc.detail}\n".encode(), "text/plain")
            except Exception:
                answer = Answer(500, b"Internal server error (see the server's log)\n",
                                "text/plain")  # fmt: skip
                sys.stderr.write(traceback.format_exc())
            self.send_response(answer.status)
            self.send_header("content-type", answer.content_type)
            self.send_header("content-length", str(len(answer.body)))
            for key, value in (*HEADERS, *answer.headers):
                self.send_header(key, value)
            if self.close_connection:
                self.send_header("connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)

        def _body(self) -> Any:
            raw = self._raw_body()
            if not raw.strip():
                return None
            try:
                return json.loads(raw)
            except ValueError as exc:
                raise invalid_body(None, [], f"JSON decode error: {exc}", "json_invalid") from None

        def _raw_body(self, limit: int | None = None) -> bytes:
            most = max_body if limit is None else limit
            if self.headers.get("transfer-encoding"):
                self.close_connection = True
                raise ApiError(411, "send the body with a Content-Length")
            try:
                length = int(self.headers.get("content-length") or 0)
            except ValueError:
                self.close_connection = True
                raise ApiError(400, "Content-Length is not a number") from None
            if length > most:
                self.close_connection = True
                raise ApiError(413, f"the body has {length} bytes; this server takes at most"
                                    f" {most}")  # fmt: skip
            self.body_read = True
            return self.rfile.read(length) if length > 0 else b""

        def finish(self) -> None:
            if self.close_connection and not self.body_read:
                self._linger()
            super().finish()

        def _linger(self) -> None:
            """The request was answered without reading its body (413, 401): read and drop
            what the client still sends (for `LINGER_SECONDS` and `LINGER_BYTES` at most)
            before closing, so that it reads the answer; closed with its body unread, the
            connection is reset and the client sees a broken pipe instead."""
            try:
                left = min(int(self.headers.get("content-length") or 0), LINGER_BYTES)
            except ValueError:
                return
            if left <= 0:
                return
            deadline = time.monotonic() + LINGER_SECONDS
            try:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_WR)  # the client sees the answer's end
                while left > 0 and (wait := deadline - time.monotonic()) > 0:
                    self.connection.settimeout(wait)
                    chunk = self.rfile.read1(min(left, 1 << 16))
                    if not chunk:
                        return
                    left -= len(chunk)
            except OSError:  # the client went, or took too long
                return

        def _send(self, status: int, payload: Any) -> None:
            data = b"" if status == 204 or (payload is None and status != 200) else (
                _ENCODER.encode(payload).encode())  # fmt: skip
            self.send_response(status)
            if data or status != 204:
                self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            if status == 401:
                self.send_header("www-authenticate", "Bearer")
            if self.close_connection:
                self.send_header("connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

    return Handler


def _log(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
