"""Counting the image builds an engine really did, from its own event stream."""

from __future__ import annotations

import time

import docker


class Builds:
    """The builds this test's engine reports in its event stream since the object was made
    (podman emits one `build` event, naming the image id, per image it builds; a build skipped
    by flowplan emits none). podman keeps one event log for every podman on the machine: events
    of images this engine does not have are another engine's."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.start = time.time_ns()

    def since_start(self) -> int:
        until = int(time.time()) + 1  # the event API's window ends at a whole second
        events = self.client.api.events(since=self.start // 10**9, until=until, decode=True)
        ours = {image.id.removeprefix("sha256:") for image in self.client.images.list(all=True)}
        return sum(1 for event in events
                   if event.get("Type") == "image" and event.get("Action") == "build"
                   and event.get("timeNano", 0) >= self.start
                   and event["Actor"]["Attributes"]["name"] in ours)  # fmt: skip
