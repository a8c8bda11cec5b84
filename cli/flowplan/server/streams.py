"""Prefect's websocket streams, `/api/events/out` and `/api/logs/out`, over the store.

The protocol is Prefect's: the client sends `{"type": "auth", "token": ...}` (answered
`{"type": "auth_success"}`), then `{"type": "filter", "filter": {...}}`; the server then sends
`{"type": "event", "event": {...}}` (or `{"type": "log", "log": {...}}`) for each stored one
that matches, first those since the filter's start (the newest 1,000 events at most, as
Prefect backfills), then new ones as they are stored: the store is read again when the server's
one `ChangeWatch` says it changed (or after `IDLE` seconds). A client's ping is answered by the
reading thread while this one streams."""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flowplan.domain import event_filter
from flowplan.server import compat
from flowplan.server.changes import ChangeWatch
from flowplan.server.websocket import Closed, Socket

if TYPE_CHECKING:
    from flowplan.backends.local import LocalBackend

PATHS = ("/api/events/out", "/api/logs/out")
IDLE = 5.0  # seconds a stream waits for a change before it reads the store anyway
BACKFILL = 1000  # events at most sent from before the connection
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def serve(
    path: str, sock: Socket, backend: LocalBackend, token: str | None, changes: ChangeWatch
) -> None:
    """Run one stream until the client closes it (or breaks the protocol)."""
    try:
        wanted = _handshake(sock, token, path)
        if wanted is None:
            return
        threading.Thread(target=_drain, args=(sock, changes), daemon=True).start()
        with changes.watching():
            if path == "/api/events/out":
                _events(sock, backend, wanted, changes)
            else:
                _logs(sock, backend, wanted, changes)
    except Closed:
        pass
    finally:
        sock.close()


def _message(sock: Socket) -> dict[str, Any]:
    try:
        value = json.loads(sock.receive())
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {}


def _handshake(sock: Socket, token: str | None, path: str) -> dict[str, Any] | None:
    first = _message(sock)
    if first.get("type") != "auth":
        sock.close(1008, "Expected 'auth' message")
        return None
    given = first.get("token")
    if token is not None and not (
        isinstance(given, str) and hmac.compare_digest(given.encode(), token.encode())
    ):
        sock.close(1008, "Invalid token: send the server's token (PREFECT_API_AUTH_STRING)")
        return None
    sock.send_text('{"type":"auth_success"}')
    second = _message(sock)
    if second.get("type") != "filter":
        sock.close(1008, "Expected 'filter' message")
        return None
    wanted = second.get("filter") or {}
    problems = (event_filter.filter_problems(wanted) if path == "/api/events/out"
                else _log_filter_problems(wanted))  # fmt: skip
    if problems:
        sock.close(1008, "; ".join(problems))
        return None
    return dict(wanted)


def _drain(sock: Socket, changes: ChangeWatch) -> None:
    """Read what the client sends after the filter: pings get pongs, a close ends it (and
    wakes the stream, which is waiting for a change)."""
    try:
        while True:
            sock.receive()
    except Closed:
        pass
    finally:
        sock.closed.set()
        changes.poke()


def _changed(sock: Socket, changes: ChangeWatch, seen: int) -> int | None:
    """The next generation of the store once it changed; None when the client has gone."""
    if sock.closed.is_set():
        return None
    seen = changes.wait(seen, IDLE)
    return None if sock.closed.is_set() else seen


def _events(
    sock: Socket, backend: LocalBackend, wanted: dict[str, Any], changes: ChangeWatch
) -> None:
    start = event_filter.since(wanted)
    seen = changes.generation
    newest = backend.read_events(limit=BACKFILL)
    cursor = newest[0].seq if newest else 0
    backlog = [e for e in reversed(newest) if start is None or (e.received or e.occurred) >= start]
    _send_events(sock, backlog, wanted)
    while (woken := _changed(sock, changes, seen)) is not None:
        seen = woken
        found = backend.read_events(after_seq=cursor, newest_first=False, limit=500)
        while found:
            cursor = found[-1].seq
            _send_events(sock, found, wanted)
            found = backend.read_events(after_seq=cursor, newest_first=False, limit=500)


def _send_events(sock: Socket, events: list[Any], wanted: dict[str, Any]) -> None:
    for event in events:
        if event_filter.matches(wanted, event):
            item = event.as_json()
            item["follows"] = None
            sock.send_text(_ENCODER.encode({"type": "event", "event": item}))


def _log_filter_problems(wanted: Any) -> list[str]:
    if not isinstance(wanted, dict) or not _run_ids(wanted):
        return ["flowplan streams the logs of given flow runs: set flow_run_id.any_"]
    return []


def _run_ids(wanted: dict[str, Any]) -> list[str]:
    ids = (wanted.get("flow_run_id") or {}).get("any_")
    return [str(item) for item in ids] if isinstance(ids, list) else []


def _logs(
    sock: Socket, backend: LocalBackend, wanted: dict[str, Any], changes: ChangeWatch
) -> None:
    after = event_filter.parse_time((wanted.get("timestamp") or {}).get("after_"))
    level = wanted.get("level") or {}
    keep: Callable[[Any], bool] = lambda line: (  # noqa: E731
        (after is None or line.timestamp >= after)
        and (level.get("ge_") is None or line.level >= level["ge_"])
        and (level.get("le_") is None or line.level <= level["le_"])
    )
    sent = dict.fromkeys(_run_ids(wanted), 0)
    woken: int | None = changes.generation
    while woken is not None:
        seen = woken
        for run_id, count in sent.items():
            try:
                lines = backend.read_logs(run_id, offset=count)
            except LookupError:
                continue
            for index, line in enumerate(lines, start=count):
                if keep(line):
                    sock.send_text(_ENCODER.encode({"type": "log",
                                                    "log": compat.log(line, index)}))  # fmt: skip
            sent[run_id] = count + len(lines)
        woken = _changed(sock, changes, seen)
