"""Starting and stopping the server process: bind, serve until SIGTERM or Ctrl-C, exit 0.

Each connection has its own thread; the store serialises their writes (one connection per
process, and SQLite's lock across processes), so workers, the CLI and other servers keep
working beside it. Requests in flight when it stops are dropped: each store write is one
transaction, so nothing is half written."""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from types import FrameType
from typing import TYPE_CHECKING

from flowplan.errors import FlowplanError

if TYPE_CHECKING:
    from flowplan.backends.local import LocalBackend
    from flowplan.server.triggers import TriggerService
    from flowplan.server.ui_core import Planner


@dataclass(frozen=True)
class ServerOptions:
    host: str
    port: int
    token: str | None
    planner: Planner | None = None  # the web UI's plan page: (project, its plan's lines)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    triggers: TriggerService | None = None  # deployment triggers, evaluated while serving


class _Server6(_Server):
    address_family = socket.AF_INET6


def build(backend: LocalBackend, options: ServerOptions) -> ThreadingHTTPServer:
    """The bound server (not serving yet); an address that cannot be bound is a user error."""
    import secrets

    from flowplan.server import (
        api_deployments,
        api_events,
        api_objects,
        api_refused,
        api_runs,
        openapi,
    )
    from flowplan.server.auth import LOOPBACK
    from flowplan.server.http import make_handler
    from flowplan.server.router import ROUTER
    from flowplan.server.triggers import TriggerService
    from flowplan.server.ui_app import UiServer

    del api_deployments, api_events, api_objects, api_refused, api_runs  # for their routes
    ui = UiServer(backend, options.token, secrets.token_bytes(32), options.host in LOOPBACK,
                  options.planner)  # fmt: skip
    triggers = TriggerService(backend)
    handler = make_handler(backend, ROUTER, options.token, lambda: openapi.document(ROUTER),
                           ui=ui, on_event=triggers.wake)  # fmt: skip
    kind = _Server6 if ":" in options.host else _Server
    try:
        server = kind((options.host, options.port), handler)
        server.triggers = triggers
        return server
    except (OSError, OverflowError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise FlowplanError(f"cannot listen on {options.host}:{options.port}: {reason}",
                            hint="choose another --port or --host") from None  # fmt: skip


def serve(server: ThreadingHTTPServer, on_stop: Callable[[str], None]) -> None:
    """Serve until SIGTERM or SIGINT (Ctrl-C), then close the listening socket."""

    def stop(signum: int, frame: FrameType | None) -> None:
        on_stop(signal.Signals(signum).name)
        # shutdown() waits for serve_forever, which runs in this (the main) thread
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    triggers = getattr(server, "triggers", None)
    try:
        if triggers is not None:
            triggers.start()
        server.serve_forever(poll_interval=0.1)
    finally:
        if triggers is not None:
            triggers.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.server_close()
