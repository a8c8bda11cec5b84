"""The docker worker type in this process (`DockerInfrastructure`, `ContainerHandle`) against
podman's Docker API started here (tests/servers.py) and the local base image (tests/images.py):
a run's container, its output and exit, stopping it, the reporting channel's mount, removing
what crashed runs left, and the errors. The worker itself (tests/integration/test_docker_worker.py)
runs these in a subprocess, where mutation testing cannot see them."""

from __future__ import annotations

import shlex
import signal
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import docker
import pytest

from flowplan.domain.job_config import WorkPoolJobConfiguration
from flowplan.domain.objects import FlowRun
from flowplan.errors import FlowplanError, UsageError
from flowplan.runtime.infrastructure import Exit
from flowplan.runtime.infrastructure.docker import DockerInfrastructure
from flowplan.runtime.infrastructure.docker_config import RUN_LABEL, SOCKET
from flowplan.runtime.infrastructure.docker_container import ContainerHandle
from tests.images import base_image
from tests.integration.workers import wait_for
from tests.runtime.helpers import a_run
from tests.servers import DockerEngine, docker_engine, remove_container

T = TypeVar("T")

SLEEPER = "import time\nprint('started', flush=True)\ntime.sleep(300)\n"
LIMIT = 30.0  # how long a container may take to end, or its output (a failure after that)


def within(what: str, read: Callable[[], T]) -> T:
    """`read()`, failing the test when it has not returned after LIMIT seconds (a container's
    output that never ends would otherwise hold the test as long as the container runs)."""
    got: list[T] = []
    reader = threading.Thread(target=lambda: got.append(read()), daemon=True)
    reader.start()
    reader.join(LIMIT)
    assert got, f"{what} did not come within {LIMIT} s"
    return got[0]


def output(lines: Iterator[str]) -> list[str]:
    return within("the end of the output", lambda: list(lines))


def first(lines: Iterator[str]) -> str:
    return within("a line of output", lambda: next(lines))


def _time_limit(signum: int, frame: object) -> None:
    raise KeyboardInterrupt("time limit (SIGXCPU)")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerEngine]:
    """One engine for the module. mutmut ends a test process that runs too long with SIGXCPU,
    which would leave the engine and its containers running: here it interrupts the tests, so
    that the fixtures' teardown still removes the containers and stops the engine."""
    previous = signal.signal(signal.SIGXCPU, _time_limit)
    try:
        with docker_engine(tmp_path_factory.mktemp("podman")) as started:
            yield started
    finally:
        signal.signal(signal.SIGXCPU, previous)


@pytest.fixture(scope="module")
def client(engine: DockerEngine) -> Iterator[Any]:
    connected = docker.DockerClient(base_url=engine.host)
    yield connected
    connected.close()


@pytest.fixture(scope="module")
def image(client: Any) -> str:
    return base_image(client)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> FlowRun:
    return a_run(tmp_path_factory.mktemp("run"))


@pytest.fixture
def said() -> list[str]:
    return []


@pytest.fixture
def infrastructure(
    engine: DockerEngine, client: Any, said: list[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[DockerInfrastructure]:
    monkeypatch.setenv("DOCKER_HOST", engine.host)
    prepared = DockerInfrastructure()
    prepared.prepare(said.append)
    yield prepared
    prepared.close()
    for container in client.api.containers(all=True):
        remove_container(client, container["Id"])


def config(image: str, script: str | None = None, **extra: Any) -> WorkPoolJobConfiguration:
    """A run's configuration: `script` run by the image's Python (or `sh -c true`)."""
    command = ["python", "-c", script] if script is not None else ["sh", "-c", "true"]
    name = extra.pop("name", None)
    extra = {"image": image, "image_pull_policy": "Never", **extra}
    return WorkPoolJobConfiguration(command=shlex.join(command), name=name, extra=extra)


def names(client: Any, run: FlowRun) -> list[str]:
    found = client.api.containers(all=True, filters={"label": f"{RUN_LABEL}={run.id}"})
    return sorted(str(item["Names"][0]).lstrip("/") for item in found)


def test_a_runs_container_gives_its_output_lines_and_exit(
    infrastructure: DockerInfrastructure, image: str, run: FlowRun, client: Any
) -> None:
    script = (
        "import os, sys, time\n"
        "print('one')\nprint('two\\r')\nprint(os.environ['FLOWPLAN_FLOW_RUN_ID'])\n"
        "print(os.environ.get('DOCKER_HOST', 'no DOCKER_HOST'))\n"
        "print('caf\\u00e9')\nprint('kept  ')\nprint('ends in X')\n"
        "os.write(1, b'not \\xff UTF-8\\n')\nprint('to stderr', file=sys.stderr)\n"
        "time.sleep(1)\nprint('later')\n"  # written after the output is being read
        "os.write(1, b'last, without a newline \\xff')\nsys.exit(3)\n"
    )
    job = config(image, script, name="lines")
    env = infrastructure.environment(run, job)
    assert env == {"PYTHONUNBUFFERED": "1", "FLOWPLAN_FLOW_RUN_ID": run.id,
                   "PREFECT__FLOW_RUN_ID": run.id}  # fmt: skip
    handle = infrastructure.launch(run, job, env)
    container = client.containers.get("lines")
    assert handle.id == f"container lines ({container.id[:12]})"
    lines = output(handle.lines())
    assert "to stderr" in lines  # from the other stream: its order against stdout's is the engine's
    assert [line for line in lines if line != "to stderr"] == [
        "one", "two", run.id, "no DOCKER_HOST", "café", "kept  ", "ends in X", "not \ufffd UTF-8",
        "later", "last, without a newline \ufffd",
    ]  # fmt: skip
    assert handle.wait(LIMIT) == Exit(3, "Container 'lines' exited with status code 3")
    assert handle.leftovers() is False
    handle.end_leftovers(1.0)  # nothing outlives the container's first process
    handle.release()
    assert names(client, run) == ["lines"]  # kept: auto_remove is off


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (0, "Container 'ends' exited with status code 0 before reporting a final state"),
        (130, "Container 'ends' exited with status code 130 (killed by SIGINT)"),
        (200, "Container 'ends' exited with status code 200"),  # no signal 72
    ],
)
def test_an_exit_status_is_described(
    infrastructure: DockerInfrastructure, image: str, run: FlowRun, code: int, reason: str
) -> None:
    job = WorkPoolJobConfiguration(command=f"sh -c 'exit {code}'", name="ends",
                                   extra={"image": image, "image_pull_policy": "Never"})  # fmt: skip
    handle = infrastructure.launch(run, job, {})
    assert handle.wait(LIMIT) == Exit(code, reason)
    assert output(handle.lines()) == []


def test_the_reporting_channel_is_mounted_with_the_runs_token(
    infrastructure: DockerInfrastructure, image: str, run: FlowRun, tmp_path: Path
) -> None:
    directory = tmp_path / "my dir"  # a path with a space: split at the last one
    directory.mkdir()
    path = directory / "worker.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    listener.settimeout(LIMIT)
    path.chmod(0o600)
    script = (
        "import os, socket\n"
        "address = os.environ['FLOWPLAN_REPORTER']\n"
        "path, _, token = address.removeprefix('unix:').rpartition(' ')\n"
        "channel = socket.socket(socket.AF_UNIX)\nchannel.connect(path)\n"
        "channel.sendall(token.encode() + b'\\n')\nprint('sent to', path, flush=True)\n"
    )
    env = {"FLOWPLAN_REPORTER": f"unix:{path} token123"}
    handle = infrastructure.launch(run, config(image, script, name="channel"), env)
    connection, _ = listener.accept()
    with connection, listener:
        assert connection.makefile("rb").readline() == b"token123\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o666  # the container's user may not be root
    assert output(handle.lines()) == [f"sent to {SOCKET}"]
    assert handle.wait(LIMIT) is not None


def test_a_channel_gone_before_the_launch_does_not_stop_it(
    infrastructure: DockerInfrastructure, image: str, run: FlowRun, tmp_path: Path
) -> None:
    # the run finds no channel: its own error, later; the worker's launch goes on
    env = {"FLOWPLAN_REPORTER": f"unix:{tmp_path / 'gone.sock'} token123"}
    handle = infrastructure.launch(run, config(image, name="unreported"), env)
    assert handle.wait(LIMIT) is not None


def test_terminate_lets_the_run_end_in_its_grace_period(
    infrastructure: DockerInfrastructure, image: str, run: FlowRun
) -> None:
    script = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *args: sys.exit(7))\n"
        "try:\n    print('started', flush=True)\n    time.sleep(300)\n"
        "finally:\n    print('finally ran', flush=True)\n"
    )
    handle = infrastructure.launch(run, config(image, script, name="polite"), {})
    lines = handle.lines()
    assert first(lines) == "started"
    assert handle.wait(0) is None  # still running
    handle.terminate(60.0)
    assert handle.wait(LIMIT) == Exit(7, "Container 'polite' exited with status code 7")
    assert output(lines) == ["finally ran"]


def test_terminate_kills_a_run_that_ignores_it_after_the_grace_period(
    infrastructure: DockerInfrastructure, image: str, run: FlowRun
) -> None:
    script = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + SLEEPER
    handle = infrastructure.launch(run, config(image, script, name="stubborn"), {})
    lines = handle.lines()
    assert first(lines) == "started"
    handle.terminate(1.4)  # rounded: 1 s
    assert handle.wait(LIMIT) == Exit(
        137, "Container 'stubborn' exited with status code 137 (killed by SIGKILL)"
    )
    assert output(lines) == []


def test_kill_ends_the_run_at_once(
    infrastructure: DockerInfrastructure, image: str, run: FlowRun
) -> None:
    handle = infrastructure.launch(run, config(image, SLEEPER, name="killed"), {})
    lines = handle.lines()
    assert first(lines) == "started"
    handle.kill()
    assert handle.wait(LIMIT) == Exit(
        137, "Container 'killed' exited with status code 137 (killed by SIGKILL)"
    )


def test_release_after_the_end_removes_an_auto_remove_container(
    infrastructure: DockerInfrastructure, image: str, run: FlowRun, client: Any
) -> None:
    handle = infrastructure.launch(run, config(image, name="removed", auto_remove=True), {})
    assert handle.wait(LIMIT) is not None
    assert names(client, run) == ["removed"]  # kept until its output is read and its end known
    handle.release()
    assert names(client, run) == []
    handle.terminate(1.0)  # gone: nothing to stop, nothing raised
    handle.kill()
    assert output(handle.lines()) == []  # released: no output any more


def test_release_of_a_container_removed_meanwhile_raises_nothing(
    infrastructure: DockerInfrastructure, image: str, run: FlowRun, client: Any
) -> None:
    handle = infrastructure.launch(run, config(image, name="reaped", auto_remove=True), {})
    assert handle.wait(LIMIT) is not None
    remove_container(client, "reaped")  # by another worker's reap, say
    handle.release()
    assert names(client, run) == []


def test_release_while_running_stops_the_output_and_keeps_the_container(
    infrastructure: DockerInfrastructure, image: str, run: FlowRun, client: Any
) -> None:
    handle = infrastructure.launch(run, config(image, SLEEPER, name="running",
                                               auto_remove=True), {})  # fmt: skip
    lines = handle.lines()
    assert first(lines) == "started"
    handle.release()
    assert output(lines) == []  # the stream closed by release() ends the output quietly
    assert output(handle.lines()) == []
    assert names(client, run) == ["running"]  # not ended: not removed
    handle.kill()
    assert handle.wait(LIMIT) is not None


def test_a_container_removed_before_its_end_is_said(
    image: str, run: FlowRun, client: Any, engine: DockerEngine
) -> None:
    container = client.containers.create(image, ["true"], name="vanished")
    remove_container(client, container.id)
    stream = docker.APIClient(base_url=engine.host)
    handle = ContainerHandle(client, stream, container, False)
    assert handle.wait(LIMIT) == Exit(-1, "Container 'vanished' was removed before it ended")
    assert output(handle.lines()) == []  # no logs of a container that is gone


def test_a_name_in_use_gets_a_number(
    infrastructure: DockerInfrastructure, image: str, run: FlowRun, client: Any
) -> None:
    first = infrastructure.launch(run, config(image, name="twin"), {})
    second = infrastructure.launch(run, config(image, name="twin"), {})
    third = infrastructure.launch(run, config(image, name="twin"), {})
    assert [handle.id.split()[1] for handle in (first, second, third)] == [
        "twin", "twin-1", "twin-2"
    ]  # fmt: skip
    assert names(client, run) == ["twin", "twin-1", "twin-2"]
    for handle in (first, second, third):
        assert handle.wait(LIMIT) is not None


def test_a_name_with_nothing_usable_lets_the_engine_choose(
    infrastructure: DockerInfrastructure, image: str, run: FlowRun, client: Any
) -> None:
    handle = infrastructure.launch(run, config(image, name="#"), {})
    (name,) = names(client, run)
    assert handle.id.startswith(f"container {name} (")
    assert handle.wait(LIMIT) is not None


def test_a_missing_image_with_policy_never_is_refused(
    infrastructure: DockerInfrastructure, run: FlowRun, said: list[str], client: Any
) -> None:
    with pytest.raises(FlowplanError) as caught:
        infrastructure.launch(run, config("localhost/nothing:v1"), {})
    assert str(caught.value) == (
        "image 'localhost/nothing:v1' is not on the Docker engine, and image_pull_policy is Never"
    )
    assert said == []
    assert client.api.containers(all=True) == []


@pytest.mark.parametrize(
    ("policy", "suffix"), [("IfNotPresent", " and is not on the Docker engine"), ("Always", "")]
)
def test_an_image_that_cannot_be_pulled_is_refused(
    infrastructure: DockerInfrastructure,
    run: FlowRun,
    said: list[str],
    engine: DockerEngine,
    policy: str,
    suffix: str,
) -> None:
    missing = f"{engine.registry}/nobody/missing:v1"
    with pytest.raises(FlowplanError) as caught:
        infrastructure.launch(run, config(missing, image_pull_policy=policy), {})
    message = str(caught.value)
    assert message.startswith(f"image {missing!r} could not be pulled (")
    assert message.endswith(f"){suffix}")
    assert "nobody/missing" in message.removeprefix(f"image {missing!r}")  # the engine's reason
    assert said == [f"Pulling image {missing!r}..."]


def test_policy_if_possible_runs_the_engines_image_when_the_pull_fails(
    infrastructure: DockerInfrastructure,
    run: FlowRun,
    said: list[str],
    engine: DockerEngine,
    image: str,
    client: Any,
) -> None:
    local = f"{engine.registry}/only/here:v1"  # tagged for the registry, never pushed there
    client.images.get(image).tag(f"{engine.registry}/only/here", "v1")
    try:
        handle = infrastructure.launch(run, config(local, image_pull_policy="IfPossible"), {})
        assert handle.wait(LIMIT) == Exit(
            0, f"Container {handle.id.split()[1]!r} exited with status code 0 before reporting"
            " a final state"
        )  # fmt: skip
        assert said == [f"Pulling image {local!r}..."]
    finally:
        client.images.remove(local)


@pytest.fixture(scope="module")
def pushed(engine: DockerEngine, image: str, client: Any) -> str:
    """The base image in the test registry (and not on the engine under that name)."""
    repository = f"{engine.registry}/team/flows"
    client.images.get(image).tag(repository, "v2")
    answer = client.images.push(repository, tag="v2")
    assert '"error' not in answer, answer
    client.images.remove(f"{repository}:v2")
    return f"{repository}:v2"


def test_an_image_is_pulled_from_its_registry_with_its_tag(
    infrastructure: DockerInfrastructure,
    run: FlowRun,
    said: list[str],
    pushed: str,
    image: str,
    client: Any,
) -> None:
    try:
        handle = infrastructure.launch(run, config(pushed, image_pull_policy="IfNotPresent"), {})
        assert said == [f"Pulling image {pushed!r}..."]
        assert handle.wait(LIMIT) is not None
        assert client.images.get(pushed).id == client.images.get(image).id
    finally:
        client.images.remove(pushed)


def test_registry_credentials_log_in_to_their_registry_first(
    infrastructure: DockerInfrastructure, run: FlowRun, pushed: str, engine: DockerEngine
) -> None:
    credentials = {"username": "ana", "password": "pw", "registry_url": engine.registry}
    job = config(pushed, image_pull_policy="Always", registry_credentials=credentials)
    with pytest.raises(FlowplanError) as caught:  # podman logs in with https only
        infrastructure.launch(run, job, {})
    assert str(caught.value).startswith(
        f"image {pushed!r} could not be pulled (login attempt to {engine.registry} failed"
    )
    assert str(caught.value).endswith(")")  # Always: no word about the engine's images


def test_an_image_on_the_engine_is_not_pulled_if_not_present(
    infrastructure: DockerInfrastructure, run: FlowRun, said: list[str], image: str
) -> None:
    handle = infrastructure.launch(run, config(image, image_pull_policy="IfNotPresent"), {})
    assert handle.wait(LIMIT) is not None
    assert said == []


def test_a_container_the_engine_refuses_is_said(
    infrastructure: DockerInfrastructure, run: FlowRun, image: str, client: Any
) -> None:
    refused = {"devices": ["/dev/no-such-device"]}
    with pytest.raises(FlowplanError) as caught:
        infrastructure.launch(run, config(image, container_create_kwargs=refused), {})
    message = str(caught.value)
    assert message.startswith("the Docker engine refused the run's container: ")
    assert "/dev/no-such-device" in message
    assert client.api.containers(all=True) == []


def test_a_container_that_cannot_start_is_removed(
    infrastructure: DockerInfrastructure, run: FlowRun, image: str, client: Any
) -> None:
    with pytest.raises(FlowplanError) as caught:
        infrastructure.launch(run, config(image, container_create_kwargs={"user": "nobody-here"}),
                              {})  # fmt: skip
    assert str(caught.value).startswith("the Docker engine refused the run's container: ")
    assert "nobody-here" in str(caught.value)
    assert names(client, run) == []  # created, never started: not kept


def test_a_container_whose_network_cannot_be_joined_is_removed(
    infrastructure: DockerInfrastructure, run: FlowRun, image: str, client: Any
) -> None:
    network = client.networks.create("flowplan-test-net")
    try:
        with pytest.raises(FlowplanError) as caught:
            infrastructure.launch(
                run, config(image, networks=["flowplan-test-net", "no-such-network"]), {}
            )
        assert str(caught.value).startswith("the Docker engine refused the run's container: ")
        assert "no-such-network" in str(caught.value)
        assert names(client, run) == []  # created, never started: not kept
    finally:
        network.remove()


def test_reap_removes_the_containers_of_crashed_runs_only(
    infrastructure: DockerInfrastructure, image: str, said: list[str], client: Any
) -> None:
    # the crashed run's container still runs (its worker died): removed by force
    client.containers.run(image, ["python", "-c", SLEEPER], name="X-crashed", detach=True,
                          labels={RUN_LABEL: "crashed-run"})  # fmt: skip
    for run_id in ("running-run", "gone-run"):
        client.containers.create(image, ["true"], name=f"of-{run_id}",
                                 labels={RUN_LABEL: run_id})  # fmt: skip
    client.containers.create(image, ["true"], name="not-a-run")
    asked: list[list[str]] = []

    def crashed(ids: Any) -> list[str]:
        asked.append(sorted(ids))
        remove_container(client, "of-gone-run")  # removed meanwhile (by another worker)
        return ["gone-run", "crashed-run"]  # one that fails first: the next still removed

    infrastructure.reap(crashed)
    assert asked == [["crashed-run", "gone-run", "running-run"]]
    left = sorted(str(item["Names"][0]).lstrip("/") for item in client.api.containers(all=True))
    assert left == ["not-a-run", "of-running-run"]
    assert said == ["Removed container X-crashed of crashed flow run crashed-run."]


def test_reap_before_prepare_or_after_close_asks_nothing() -> None:
    idle = DockerInfrastructure()
    asked: list[object] = []
    idle.reap(asked.append)  # type: ignore[arg-type]
    idle.close()
    idle.close()
    idle.reap(asked.append)  # type: ignore[arg-type]
    assert asked == []


@pytest.mark.parametrize("host", ["nothing.sock", None])
def test_an_unreachable_engine_is_refused_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: str | None
) -> None:
    if host is None:
        monkeypatch.delenv("DOCKER_HOST", raising=False)
        shown = "the default socket (/var/run/docker.sock)"
    else:
        shown = f"unix://{tmp_path}/{host}"
        monkeypatch.setenv("DOCKER_HOST", shown)
    with pytest.raises(UsageError) as caught:
        DockerInfrastructure().prepare(print)
    assert str(caught.value).startswith(
        f"the docker worker cannot reach a Docker engine at DOCKER_HOST={shown}: "
    )
    assert caught.value.hint == (
        "start Docker or 'podman system service', and set DOCKER_HOST to its socket"
    )
    with pytest.raises(UsageError, match="cannot reach a Docker engine"):  # launch connects too
        DockerInfrastructure().launch(None, config("any:v1"), {})  # type: ignore[arg-type]


def test_an_engine_that_goes_away_is_said(
    tmp_path_factory: pytest.TempPathFactory, run: FlowRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[str] = []
    shared = tmp_path_factory.mktemp("shared")
    script = (  # outlives its engine: until the test lets it go
        "import os, time\nprint('started', flush=True)\n"
        "while not os.path.exists('/shared/stop'):\n    time.sleep(0.05)\n"
    )
    infrastructure = DockerInfrastructure()
    base = tmp_path_factory.mktemp("lost")
    try:
        with docker_engine(base) as lost:
            monkeypatch.setenv("DOCKER_HOST", lost.host)
            client = docker.DockerClient(base_url=lost.host)
            image = base_image(client)
            client.close()
            infrastructure.prepare(said.append)
            job = config(image, script, name="stranded", volumes=[f"{shared}:/shared"])
            handle = infrastructure.launch(run, job, {})
            assert first(handle.lines()) == "started"
        exit = handle.wait(2 * LIMIT)
        assert exit is not None and exit.code == -1
        assert (exit.reason or "").startswith(
            "Lost the Docker engine while container 'stranded' ran: "
        )
        with pytest.raises(FlowplanError) as caught:
            infrastructure.launch(run, config(image), {})
        assert str(caught.value).startswith("cannot reach the Docker engine: ")
        infrastructure.reap(lambda ids: list(ids))
        assert said[-1].startswith("Could not list the containers of crashed runs: ")
    finally:
        infrastructure.close()
        (shared / "stop").write_text("")
        (base / "podman.sock").unlink(missing_ok=True)
        with docker_engine(base) as again:  # the engine back: the container removed, unmounted
            client = docker.DockerClient(base_url=again.host)
            wait_for("the stranded container's end", lambda: not client.api.containers())
            remove_container(client, "stranded")
            client.close()
