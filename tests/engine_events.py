"""Counting the image builds an engine really did, from its own event stream."""

from __future__ import annotations

import json
import time

import docker


class Builds:
    """The builds this test's engine reports in its event log since the object was made:
    podman emits one `build` event per image it builds (a build skipped by flowplan emits
    none). Each `docker_engine` keeps its own event log (podman's default is one file for every
    podman on the machine, rotated when it grows). The log is read with podman's `stream=false`
    (everything so far, then the answer ends), not with an `until` time: podman ends a stream
    at `until` even when it has not sent every earlier event yet."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.start = time.time_ns()

    def since_start(self) -> int:
        api = self.client.api
        params = {"since": str(self.start // 10**9), "stream": "false"}
        response = api._get(api._url("/events"), params=params)
        response.raise_for_status()
        events = [json.loads(line) for line in response.text.splitlines() if line.strip()]
        return sum(1 for event in events
                   if event.get("Type") == "image" and event.get("Action") == "build"
                   and event.get("timeNano", 0) >= self.start)  # fmt: skip
