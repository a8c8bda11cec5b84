"""Prefect's event stream (`/api/events/out`) from the real server process: Prefect's own
subscriber gets the stored events that match its filter and no others, backfilled and live;
the websocket protocol itself (ping, close, masking, the token on a non-loopback bind)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
import textwrap
import threading
from datetime import UTC, datetime
from pathlib import Path

from flowplan.backends.local import LocalBackend
from flowplan.domain.objects import LogLine
from flowplan.server.changes import ChangeWatch
from tests.flowplan_server import FlowplanServer, flowplan_server
from tests.integration.workers import wait_for
from tests.prefect_server import PREFECT_VENV, prefect_env
from tests.runtime.helpers import deployment, store

SUBSCRIBER = """
import asyncio
from prefect.events.clients import PrefectEventSubscriber
from prefect.events.filters import EventAnyResourceFilter, EventFilter, EventNameFilter

async def main():
    wanted = EventFilter(event=EventNameFilter(prefix=["shop."], exclude_name=["shop.skip"]),
                         any_resource=EventAnyResourceFilter(id=["order.1"]))
    async with PrefectEventSubscriber(filter=wanted, reconnection_attempts=0) as events:
        print("ready", flush=True)
        async for event in events:
            print(event.event, event.resource.id, flush=True)
            if event.event == "shop.stop":
                return

asyncio.run(main())
"""


def _write(backend: LocalBackend, name: str, resource: str, related: str | None = None) -> None:
    backend.write_event(
        name,
        {"prefect.resource.id": resource},
        [{"prefect.resource.id": related, "prefect.resource.role": "x"}] if related else [],
    )


def test_prefects_subscriber_gets_only_the_matching_events(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    _write(backend, "shop.before", "order.1")  # backfilled: stored within the last minute
    _write(backend, "shop.before", "order.2")
    with flowplan_server(tmp_path / "home") as server:
        process = subprocess.Popen(
            [str(PREFECT_VENV / "bin" / "python"), "-c", textwrap.dedent(SUBSCRIBER)],
            cwd=tmp_path, env=prefect_env(tmp_path / "prefect-home", server.url),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
        )  # fmt: skip
        try:
            # unbuffered: readline takes only the first line; a buffered reader could take the
            # backfilled event's line too, which communicate() (reading the pipe) never sees
            assert process.stdout is not None
            first = process.stdout.readline().decode()
            assert first == "ready\n", first + (
                process.stderr.read().decode() if process.stderr else ""
            )
            _write(backend, "shop.paid", "order.1")
            _write(backend, "shop.paid", "order.2")  # another resource
            _write(backend, "other.paid", "order.1")  # another name
            _write(backend, "shop.skip", "order.1")  # an excluded name
            _write(backend, "shop.related", "line.9", related="order.1")  # related resource
            _write(backend, "shop.stop", "order.1")
            out, err = (text.decode() for text in process.communicate(timeout=60))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 0, err
    assert out.splitlines() == [
        "shop.before order.1",
        "shop.paid order.1",
        "shop.related line.9",
        "shop.stop order.1",
    ]
    backend.close()


GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3


class RawSocket:
    """A websocket client written for the test: frames are built here, byte by byte."""

    def __init__(self, server: FlowplanServer, path: str = "/api/events/out") -> None:
        host, port = server.url.split("//")[1].split("/")[0].split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
             "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: prefect\r\n\r\n").encode()
        )  # fmt: skip
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        self.head = head.decode()
        assert self.head.startswith("HTTP/1.1 101"), self.head
        expected = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        assert f"sec-websocket-accept: {expected}\r\n" in self.head

    def send(self, opcode: int, data: bytes, *, mask: bool = True) -> None:
        header = bytes([0x80 | opcode, (0x80 if mask else 0) | len(data)])
        key = os.urandom(4) if mask else b""
        body = bytes(b ^ key[i % 4] for i, b in enumerate(data)) if mask else data
        self.sock.sendall(header + key + body)

    def _exactly(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            assert chunk, "the server closed the connection without a close frame"
            data += chunk
        return data

    def receive(self) -> tuple[int, bytes]:
        first, second = self._exactly(2)
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", self._exactly(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self._exactly(8))[0]
        return first & 0x0F, self._exactly(size)

    def json(self, value: object) -> None:
        self.send(0x1, json.dumps(value).encode())


def test_the_websocket_protocol(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    with flowplan_server(tmp_path / "home") as server:
        client = RawSocket(server)
        assert "sec-websocket-protocol: prefect" in client.head.lower()
        client.json({"type": "auth", "token": None})
        assert client.receive() == (0x1, b'{"type":"auth_success"}')
        client.json({"type": "filter", "filter": {"event": {"name": ["a.b"]}}})
        client.send(0x9, b"hello")  # ping
        assert client.receive() == (0xA, b"hello")  # pong
        _write(backend, "a.c", "r")
        _write(backend, "a.b", "r")
        kind, data = client.receive()
        assert kind == 0x1 and json.loads(data)["event"]["event"] == "a.b"
        client.send(0x8, struct.pack("!H", 1000))
        assert client.receive() == (0x8, struct.pack("!H", 1000))

        unmasked = RawSocket(server)
        unmasked.send(0x1, b'{"type": "auth"}', mask=False)
        kind, data = unmasked.receive()
        assert (kind, data[:2], data[2:]) == (0x8, struct.pack("!H", 1002),
                                              b"client frames must be masked")  # fmt: skip

        wrong_order = RawSocket(server)
        wrong_order.json({"type": "filter", "filter": {}})
        assert wrong_order.receive() == (0x8, struct.pack("!H", 1008) + b"Expected 'auth' message")

        text_filter = RawSocket(server)
        text_filter.json({"type": "auth"})
        text_filter.receive()
        text_filter.json({"type": "filter", "filter": {"text": {"query": "x"}}})
        assert text_filter.receive() == (
            0x8, struct.pack("!H", 1008) + b"flowplan does not filter events by text")  # fmt: skip
    backend.close()


def test_a_non_loopback_stream_needs_the_token(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    with flowplan_server(tmp_path / "home", host="127.0.0.2") as server:
        token = (tmp_path / "home" / "server-token").read_text().strip()
        refused = RawSocket(server)
        refused.json({"type": "auth", "token": "not-the-token"})
        kind, data = refused.receive()
        assert kind == 0x8 and data[:2] == struct.pack("!H", 1008)
        accepted = RawSocket(server)
        accepted.json({"type": "auth", "token": token})
        assert accepted.receive() == (0x1, b'{"type":"auth_success"}')

        # Prefect's client with PREFECT_API_AUTH_STRING: Basic auth over HTTP, the token in
        # the stream's first message
        _write(backend, "shop.stop", "order.1")
        env = {**prefect_env(tmp_path / "prefect-home", server.url),
               "PREFECT_API_AUTH_STRING": token}  # fmt: skip
        subscribed = subprocess.run(
            [str(PREFECT_VENV / "bin" / "python"), "-c", textwrap.dedent(SUBSCRIBER)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert subscribed.returncode == 0, subscribed.stderr
        assert subscribed.stdout.splitlines() == ["ready", "shop.stop order.1"]
        listed = subprocess.run([str(PREFECT_VENV / "bin" / "prefect"), "deployment", "ls"],
                                cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=120)  # fmt: skip
        assert listed.returncode == 0, listed.stdout + listed.stderr
        env["PREFECT_API_AUTH_STRING"] = "not-the-token"
        refused = subprocess.run([str(PREFECT_VENV / "bin" / "prefect"), "deployment", "ls"],
                                 cwd=tmp_path, env=env, capture_output=True, text=True,
                                 timeout=120)  # fmt: skip
        assert refused.returncode == 1
    backend.close()


READER = """
import json
from prefect import get_client
from prefect.events.filters import EventFilter, EventNameFilter, EventOrder

with get_client(sync_client=True) as client:
    wanted = EventFilter(event=EventNameFilter(prefix=["shop."]), order=EventOrder.ASC)
    page = client.read_events(filter=wanted, limit=2)
    names = [[e.event, e.resource.id] for e in page.events]
    total = page.total
    while page.next_page:
        page = client.read_events_page(page.next_page)
        names += [[e.event, e.resource.id] for e in page.events]
    newest = client.read_events(filter=EventFilter(), limit=1)
    print(json.dumps({"names": names, "total": total, "newest": newest.events[0].event}))
"""


def test_prefects_client_reads_events_page_by_page(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    for n in range(5):
        _write(backend, "shop.paid", f"order.{n}")
        _write(backend, "other.paid", f"order.{n}")
    with flowplan_server(tmp_path / "home") as server:
        done = subprocess.run(
            [str(PREFECT_VENV / "bin" / "python"), "-c", textwrap.dedent(READER)], cwd=tmp_path,
            env=prefect_env(tmp_path / "prefect-home", server.url), capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout.strip().splitlines()[-1])
        assert answer["names"] == [["shop.paid", f"order.{n}"] for n in range(5)]
        assert (answer["total"], answer["newest"]) == (5, "other.paid")
        assert server.call("POST", "/events/filter", {"limit": 51})[0] == 422
        assert server.call("GET", "/events/filter/next?page-token=bm9wZQ==")[0] == 403
        assert server.call("POST", "/events/count-by/day", {"filter": {}}) == (501, {
            "detail": "flowplan's server does not count events: POST /api/events/filter reads"
                      " them, 'flowplan event ls' lists them"})  # fmt: skip
        assert server.call("GET", "/events/out")[0] == 400
    backend.close()


AUTOMATIONS = """
import json
from prefect import get_client

with get_client(sync_client=True) as client:
    found = client.read_automations()
    deployment = client.read_deployment_by_name("f/chain")
    related = client.read_resource_related_automations(f"prefect.deployment.{deployment.id}")
    one = client.read_automation(found[0].id)
    print(json.dumps({
        "names": [a.name for a in found],
        "related": [a.name for a in related],
        "one": one.model_dump(mode="json"),
    }))
"""


def test_deployment_triggers_are_prefects_automations(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, name="other")
    deployment(backend, tmp_path, name="chain", triggers=[
        {"expect": ["prefect.flow-run.Completed"],
         "match_related": {"prefect.resource.role": "deployment",
                           "prefect.resource.name": "other"},
         "parameters": {"n": "{{ flow_run.parameters.n }}"}},
        {"name": "both", "type": "compound", "require": "all", "within": 60, "triggers": [
            {"expect": ["a.done"]}, {"expect": ["b.done"]}]},
    ])  # fmt: skip
    chain = backend.read_deployment("f/chain")
    with flowplan_server(tmp_path / "home") as server:
        done = subprocess.run(
            [str(PREFECT_VENV / "bin" / "python"), "-c", textwrap.dedent(AUTOMATIONS)],
            cwd=tmp_path, env=prefect_env(tmp_path / "prefect-home", server.url),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout.strip().splitlines()[-1])
        listed = subprocess.run(
            [str(PREFECT_VENV / "bin" / "prefect"), "automation", "ls"], cwd=tmp_path,
            env={**prefect_env(tmp_path / "prefect-home", server.url), "COLUMNS": "250"},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert answer["names"] == ["both", "chain__automation_1"]
    assert answer["related"] == ["chain__automation_1", "both"]  # as declared
    one = answer["one"]
    assert one["name"] == "both" and one["trigger"]["type"] == "compound"
    assert [t["expect"] for t in one["trigger"]["triggers"]] == [["a.done"], ["b.done"]]
    assert one["actions"][0]["type"] == "run-deployment"
    assert one["actions"][0]["deployment_id"] == chain.id
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "chain__automation_1" in listed.stdout and "both" in listed.stdout
    backend.close()


def test_the_log_stream_sends_a_runs_lines_as_they_are_stored(tmp_path: Path) -> None:
    """`/api/logs/out`: the lines already stored, then each new one once the store changes
    (the server's change watcher wakes the stream; writes here come from another process's
    connection, as a worker's do); a run not named in the filter is not streamed."""
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path)
    run, other = (backend.create_flow_run("f/d") for _ in range(2))

    def line(run_id: str, text: str) -> LogLine:
        return LogLine(run_id, datetime.now(UTC), 20, text)

    backend.write_logs([line(run.id, "before")])
    with flowplan_server(tmp_path / "home") as server:
        client = RawSocket(server, "/api/logs/out")
        client.json({"type": "auth", "token": None})
        assert client.receive() == (0x1, b'{"type":"auth_success"}')
        client.json({"type": "filter", "filter": {"flow_run_id": {"any_": [run.id]}}})
        kind, data = client.receive()
        assert (kind, json.loads(data)["log"]["message"]) == (0x1, "before")
        for text in ("one", "two"):
            backend.write_logs([line(other.id, f"not {text}"), line(run.id, text)])
            kind, data = client.receive()
            sent = json.loads(data)["log"]
            assert (kind, sent["message"], sent["flow_run_id"]) == (0x1, text, run.id)
        client.send(0x8, struct.pack("!H", 1000))
        assert client.receive() == (0x8, struct.pack("!H", 1000))
    backend.close()


def test_one_watcher_wakes_waiters_on_a_commit_and_ends_with_the_last(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    backend.read_events()  # the store exists
    watch = ChangeWatch(backend.store.path)
    with watch.watching():
        seen = watch.wait(watch.generation, 30)  # the watcher's first look counts as a change
        _write(backend, "a.b", "r")  # committed by another connection
        assert watch.wait(seen, 30) > seen
    wait_for(
        "the watcher to end with its last watcher",
        lambda: "flowplan-changes" not in {t.name for t in threading.enumerate()},
    )
    backend.close()
