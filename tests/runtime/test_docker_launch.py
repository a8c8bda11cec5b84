"""The docker worker type's launch, pull, naming and reaping (`DockerInfrastructure`) against
an engine this test plays: each call the worker makes, in order, and what it does with each
answer, including the ones podman does not give here (a pull stream that reports an error, a
login, a name taken a hundred times, a list of containers that fails). The same paths against
podman, for real: test_docker_inprocess.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from flowplan.domain.job_config import WorkPoolJobConfiguration
from flowplan.errors import FlowplanError, UsageError
from flowplan.runtime.infrastructure import Exit
from flowplan.runtime.infrastructure.docker import DockerInfrastructure, _explain, _split
from flowplan.runtime.infrastructure.docker_config import RUN_LABEL
from flowplan.runtime.infrastructure.docker_container import ContainerHandle
from tests.runtime.helpers import a_run


def api_error(text: str, status: int | None = None, explanation: Any = None) -> Exception:
    class Response:
        status_code = status
        reason = "reason"
        url = "http+docker://engine/v1.41/containers/create"

    response: Any = Response() if status else None
    return docker.errors.APIError(text, response, explanation)


class Container:
    def __init__(self, engine: Engine, name: str | None) -> None:
        self.engine, self.name, self.id = engine, name, "abc123"

    def start(self) -> None:
        self.engine.record("start", self.name)

    def remove(self, force: bool) -> None:
        self.engine.record("remove", force)


class Network:
    def __init__(self, engine: Engine, name: str) -> None:
        self.engine, self.name = engine, name

    def connect(self, container: Container) -> None:
        self.engine.record("connect", (self.name, container.name))


class Api:
    """A client's low-level API (`client.api`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.api_version = "1.41"
        self.timeout: Any = None

    def pull(self, repository: str, **options: Any) -> Iterator[Any]:
        self.engine.record("pull", (repository, options))
        yield from self.engine.pulled

    def containers(self, **options: Any) -> list[dict[str, Any]]:
        self.engine.record("list", options)
        return self.engine.listed

    def remove_container(self, container_id: str, force: bool) -> None:
        self.engine.record("remove_container", (container_id, force))


class Engine:
    """A Docker client: `images`, `containers` and `networks` are the engine itself, `api` its
    low-level API. `present`: the images it has; `fail`: the calls that raise, with what they
    raise (an exception, or a list of them raised in turn); `pulled`: the pull stream's lines."""

    def __init__(self, *present: str) -> None:
        self.images = self.containers = self.networks = self
        self.api = Api(self)
        self.present = set(present)
        self.fail: dict[str, Any] = {}
        self.pulled: list[Any] = [{"status": "Pulling"}, "not a mapping", {"status": "Done"}]
        self.calls: list[tuple[str, Any]] = []
        self.listed: list[dict[str, Any]] = []

    def record(self, name: str, value: Any) -> None:
        self.calls.append((name, value))
        failure = self.fail.get(name)
        if isinstance(failure, list):
            failure = failure.pop(0) if failure else None
        if failure is not None:
            raise failure

    def get(self, name: str) -> Any:  # images.get and networks.get
        if name.startswith("net"):
            return Network(self, name)
        self.record("images.get", name)
        if name not in self.present:
            raise docker.errors.ImageNotFound(f"No such image: {name}")
        return name

    def login(self, **options: Any) -> None:
        self.record("login", options)

    def create(self, name: str | None = None, **settings: Any) -> Container:
        self.record("create", name)
        return Container(self, name)

    def ping(self) -> bool:
        self.record("ping", None)
        return True

    def close(self) -> None:
        self.record("close", None)


class Stream:
    """The client a launch makes for a run's log stream and wait: its container ends at once."""

    def __init__(self, **options: Any) -> None:
        self.options = options

    def wait(self, container_id: str) -> dict[str, int]:
        return {"StatusCode": 0}


@pytest.fixture(autouse=True)
def streams(monkeypatch: pytest.MonkeyPatch) -> list[Stream]:
    """The stream clients the launches make (they never connect here)."""
    made: list[Stream] = []

    def client(**options: Any) -> Stream:
        made.append(Stream(**options))
        return made[-1]

    monkeypatch.setattr(docker, "APIClient", client)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    return made


def infrastructure(engine: Engine) -> tuple[DockerInfrastructure, list[str]]:
    said: list[str] = []
    prepared = DockerInfrastructure()
    prepared.say = said.append
    prepared._client = engine
    return prepared, said


def job(image: str = "team/flows:v1", **extra: Any) -> WorkPoolJobConfiguration:
    name = extra.pop("name", "run-name")
    return WorkPoolJobConfiguration(command="python -m x", name=name, extra={"image": image,
                                                                             **extra})  # fmt: skip


@pytest.fixture
def run(tmp_path: Path) -> Any:
    return a_run(tmp_path)


def launched(engine: Engine, run: Any, config: WorkPoolJobConfiguration,
             env: dict[str, str] | None = None) -> tuple[ContainerHandle, list[str]]:  # fmt: skip
    prepared, said = infrastructure(engine)
    handle = prepared.launch(run, config, env or {})
    assert isinstance(handle, ContainerHandle)
    return handle, said


# -- images -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "parts"),
    [
        ("python", ("python", "latest")),
        ("python:3.11-slim", ("python", "3.11-slim")),
        ("team/flows:v1", ("team/flows", "v1")),
        ("localhost:5000/flows", ("localhost:5000/flows", "latest")),  # a port, not a tag
        ("localhost:5000/team/flows:v2", ("localhost:5000/team/flows", "v2")),
        ("flows@sha256:0123", ("flows@sha256:0123", None)),  # a digest: pulled by it
        ("flows:v1@sha256:0123", ("flows:v1@sha256:0123", None)),
    ],
)
def test_an_image_is_split_into_repository_and_tag(image: str, parts: tuple[str, Any]) -> None:
    assert _split(image) == parts


def test_an_engines_error_is_explained_by_its_explanation_else_its_text() -> None:
    assert _explain(api_error("500 Server Error", 500, b" no space left \n")) == "no space left"
    assert _explain(api_error("500 Server Error", 500, "  in use ")) == "in use"
    assert _explain(api_error("  plain  ")) == "plain"
    assert _explain(ValueError(" bad ")) == "bad"


def test_policy_never_runs_an_image_on_the_engine_without_pulling(run: Any) -> None:
    engine = Engine("team/flows:v1")
    handle, said = launched(engine, run, job(image_pull_policy="Never"))
    assert engine.calls == [("images.get", "team/flows:v1"), ("create", "run-name"),
                            ("start", "run-name")]  # fmt: skip
    assert said == []
    assert handle.id == "container run-name (abc123)"


def test_policy_never_refuses_an_image_missing_from_the_engine(run: Any) -> None:
    engine = Engine()
    with pytest.raises(FlowplanError) as caught:
        launched(engine, run, job(image_pull_policy="Never"))
    assert caught.value.message == (
        "image 'team/flows:v1' is not on the Docker engine, and image_pull_policy is Never"
    )
    assert engine.calls == [("images.get", "team/flows:v1")]


def test_if_not_present_pulls_only_a_missing_image_by_its_tag(run: Any) -> None:
    engine = Engine("team/flows:v1")
    launched(engine, run, job(image_pull_policy="IfNotPresent"))
    assert ("pull", ("team/flows", {"tag": "v1", "stream": True, "decode": True})) not in (
        engine.calls
    )
    engine = Engine()
    _, said = launched(engine, run, job(image_pull_policy="IfNotPresent"))
    assert engine.calls[:2] == [
        ("images.get", "team/flows:v1"),
        ("pull", ("team/flows", {"tag": "v1", "stream": True, "decode": True})),
    ]
    assert said == ["Pulling image 'team/flows:v1'..."]


@pytest.mark.parametrize(
    ("image", "policy", "tag"),
    [("team/flows:v1", "Always", "v1"), ("team/flows", None, "latest")],  # None: Prefect's default
)
def test_always_pulls_without_asking_the_engine_first(
    run: Any, image: str, policy: str | None, tag: str
) -> None:
    engine = Engine(image)
    launched(engine, run, job(image, image_pull_policy=policy) if policy else job(image))
    assert engine.calls[0] == ("pull", ("team/flows", {"tag": tag, "stream": True,
                                                       "decode": True}))  # fmt: skip


def test_credentials_log_in_before_the_pull(run: Any) -> None:
    engine = Engine()
    credentials = {"username": "ana", "password": "pw", "registry_url": "r.example:5000",
                   "reauth": "yes"}  # fmt: skip
    launched(engine, run, job(image_pull_policy="Always", registry_credentials=credentials))
    assert engine.calls[:2] == [
        ("login", {"username": "ana", "password": "pw", "registry": "r.example:5000",
                   "reauth": True}),
        ("pull", ("team/flows", {"tag": "v1", "stream": True, "decode": True})),
    ]  # fmt: skip
    engine = Engine()
    launched(engine, run, job(image_pull_policy="Always", registry_credentials={"username": "b"}))
    assert engine.calls[0] == (
        "login", {"username": "b", "password": None, "registry": None, "reauth": False}
    )  # fmt: skip


@pytest.mark.parametrize("credentials", [{"username": ""}, {"password": "pw"}, "ana:pw", None])
def test_credentials_without_a_user_name_log_in_nowhere(run: Any, credentials: Any) -> None:
    engine = Engine()
    launched(engine, run, job(image_pull_policy="Always", registry_credentials=credentials))
    assert [name for name, _ in engine.calls] == ["pull", "create", "start"]


@pytest.mark.parametrize(
    ("policy", "suffix", "asked"),
    [("Always", "", ["pull"]),
     ("IfNotPresent", " and is not on the Docker engine", ["images.get", "pull"]),
     ("IfPossible", " and is not on the Docker engine", ["pull", "images.get"])],
)  # fmt: skip
def test_an_error_in_the_pull_stream_refuses_the_image(
    run: Any, policy: str, suffix: str, asked: list[str]
) -> None:
    engine = Engine()
    engine.pulled = [{"status": "Pulling"}, {"error": " manifest unknown \n"}, {"status": "x"}]
    with pytest.raises(FlowplanError) as caught:
        launched(engine, run, job(image_pull_policy=policy))
    assert caught.value.message == (
        f"image 'team/flows:v1' could not be pulled (manifest unknown){suffix}"
    )
    assert [name for name, _ in engine.calls] == asked


def test_a_refused_login_refuses_the_image_with_the_engines_explanation(run: Any) -> None:
    engine = Engine()
    engine.fail["login"] = api_error("401 Client Error", 401, b"bad credentials\n")
    with pytest.raises(FlowplanError) as caught:
        launched(engine, run, job(image_pull_policy="Always",
                                  registry_credentials={"username": "ana"}))  # fmt: skip
    assert caught.value.message == "image 'team/flows:v1' could not be pulled (bad credentials)"
    assert [name for name, _ in engine.calls] == ["login"]


def test_if_possible_runs_the_engines_image_when_the_pull_fails(run: Any) -> None:
    engine = Engine("team/flows:v1")
    engine.fail["pull"] = api_error("500 Server Error", 500, "registry down")
    _, said = launched(engine, run, job(image_pull_policy="IfPossible"))
    assert [name for name, _ in engine.calls] == ["pull", "images.get", "create", "start"]
    assert said == ["Pulling image 'team/flows:v1'..."]


# -- the container ----------------------------------------------------------------------------


def test_a_launch_connects_networks_before_the_start_and_follows_with_a_stream_client(
    run: Any, streams: list[Stream]
) -> None:
    engine = Engine("team/flows:v1")
    handle, _ = launched(engine, run, job(image_pull_policy="Never", networks=["net-a", "net-b"],
                                          auto_remove=True))  # fmt: skip
    # the first network is the container's from its creation; the others joined before the start
    assert engine.calls[1:] == [("create", "run-name"), ("connect", ("net-b", "run-name")),
                                ("start", "run-name")]  # fmt: skip
    assert [stream.options for stream in streams] == [{"version": "1.41", "timeout": 3600}]
    assert handle._stream_client is streams[0]
    assert handle._client is engine
    assert handle._remove is True
    assert handle.wait(5.0) == Exit(
        0, "Container 'run-name' exited with status code 0 before reporting a final state"
    )


def test_the_reporting_socket_is_opened_to_the_containers_user(run: Any, tmp_path: Path) -> None:
    socket = tmp_path / "my dir" / "worker.sock"
    socket.parent.mkdir()
    socket.write_text("")
    socket.chmod(0o600)
    engine = Engine("team/flows:v1")
    launched(engine, run, job(image_pull_policy="Never"),
             {"FLOWPLAN_REPORTER": f"unix:{socket} token1"})  # fmt: skip
    assert socket.stat().st_mode & 0o777 == 0o666
    launched(engine, run, job(image_pull_policy="Never"),  # gone meanwhile: the run says so
             {"FLOWPLAN_REPORTER": f"unix:{tmp_path / 'gone.sock'} token1"})  # fmt: skip


def test_a_name_taken_gets_the_next_free_number(run: Any) -> None:
    engine = Engine("team/flows:v1")
    engine.fail["create"] = [api_error("409 Client Error", 409), api_error("name is already in use"),
                             None]  # fmt: skip
    handle, _ = launched(engine, run, job(image_pull_policy="Never", name="twin"))
    assert [value for name, value in engine.calls if name == "create"] == [
        "twin", "twin-1", "twin-2"
    ]  # fmt: skip
    assert handle.id == "container twin-2 (abc123)"


def test_no_free_name_in_a_hundred_is_said(run: Any) -> None:
    engine = Engine("team/flows:v1")
    engine.fail["create"] = [api_error("409 Client Error", 409) for _ in range(100)]
    with pytest.raises(FlowplanError) as caught:
        launched(engine, run, job(image_pull_policy="Never", name="twin"))
    assert caught.value.message == "no free container name like 'twin'"
    created = [value for name, value in engine.calls if name == "create"]
    assert created[0] == "twin"
    assert created[-1] == "twin-99"
    assert len(created) == 100


@pytest.mark.parametrize("name", ["twin", "#"])  # "#": no usable name, the engine chooses
def test_another_refusal_of_the_create_is_not_retried(run: Any, name: str) -> None:
    engine = Engine("team/flows:v1")
    engine.fail["create"] = [api_error("500 Server Error", 500, "no such device /dev/x")]
    with pytest.raises(FlowplanError) as caught:
        launched(engine, run, job(image_pull_policy="Never", name=name))
    assert caught.value.message == (
        "the Docker engine refused the run's container: no such device /dev/x"
    )
    assert len([call for call in engine.calls if call[0] == "create"]) == 1


def test_a_taken_name_the_engine_chose_is_not_retried(run: Any) -> None:
    engine = Engine("team/flows:v1")
    engine.fail["create"] = [api_error("409 Client Error", 409, "in use")]
    with pytest.raises(FlowplanError, match="refused the run's container: in use"):
        launched(engine, run, job(image_pull_policy="Never", name="#"))
    assert [call for call in engine.calls if call[0] == "create"] == [("create", None)]


@pytest.mark.parametrize("failing", ["connect", "start"])
def test_a_container_that_does_not_start_is_removed_by_force(run: Any, failing: str) -> None:
    engine = Engine("team/flows:v1")
    engine.fail[failing] = api_error("500 Server Error", 500, f"{failing} failed")
    engine.fail["remove"] = RuntimeError("and its removal too")  # the first error is said
    with pytest.raises(FlowplanError) as caught:
        launched(engine, run, job(image_pull_policy="Never", networks=["net-a", "net-b"]))
    assert (
        caught.value.message == f"the Docker engine refused the run's container: {failing} failed"
    )
    assert engine.calls[-1] == ("remove", True)


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (docker.errors.ImageNotFound("404", None, "no such image here"),
         "image 'team/flows:v1' not found: no such image here"),
        (docker.errors.DockerException("engine gone"),
         "cannot reach the Docker engine: engine gone"),
        (ConnectionResetError("reset by peer"), "cannot reach the Docker engine: reset by peer"),
    ],
)  # fmt: skip
def test_an_engine_failing_the_launch_is_said(run: Any, failure: Exception, message: str) -> None:
    engine = Engine("team/flows:v1")
    engine.fail["create"] = failure
    with pytest.raises(FlowplanError) as caught:
        launched(engine, run, job(image_pull_policy="Never"))
    assert caught.value.message == message


def test_a_launch_before_prepare_connects_first(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine()
    monkeypatch.setattr(docker, "from_env", lambda timeout: engine)
    DockerInfrastructure().launch(run, job(image_pull_policy="IfNotPresent"), {})  # says nothing
    assert [name for name, _ in engine.calls] == ["ping", "images.get", "pull", "create", "start"]


# -- connecting, reaping and closing ----------------------------------------------------------


def test_prepare_connects_with_its_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine()
    asked: list[int] = []

    def from_env(timeout: int) -> Engine:
        asked.append(timeout)
        return engine

    monkeypatch.setattr(docker, "from_env", from_env)
    prepared = DockerInfrastructure()
    said: list[str] = []
    prepared.prepare(said.append)
    assert asked == [10]
    assert engine.calls == [("ping", None)]
    assert engine.api.timeout == 120  # for the calls after the ping
    prepared.say("hello")
    assert said == ["hello"]
    prepared.close()
    assert engine.calls[-1] == ("close", None)
    prepared.close()  # closed: nothing more
    assert engine.calls.count(("close", None)) == 1


def test_an_engine_that_does_not_answer_the_ping_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = Engine()
    engine.fail["ping"] = api_error("500 Server Error", 500, b"not ready\n")
    monkeypatch.setattr(docker, "from_env", lambda timeout: engine)
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    with pytest.raises(UsageError) as caught:
        DockerInfrastructure().prepare(print)
    assert caught.value.message == (
        "the docker worker cannot reach a Docker engine at DOCKER_HOST=tcp://127.0.0.1:1:"
        " APIError: not ready"
    )


def test_a_close_that_fails_is_quiet() -> None:
    engine = Engine()
    engine.fail["close"] = OSError("already closed")
    prepared, _ = infrastructure(engine)
    prepared.close()
    assert prepared._client is None


def listing(*items: tuple[Any, Any]) -> list[dict[str, Any]]:
    """Containers as the engine lists them: (labels, names) each."""
    return [{"Id": f"id{index}", "Labels": labels, "Names": names}
            for index, (labels, names) in enumerate(items)]  # fmt: skip


def test_reap_removes_by_force_the_containers_of_the_runs_that_crashed() -> None:
    engine = Engine()
    engine.listed = listing(({RUN_LABEL: "r1"}, ["/first"]), ({RUN_LABEL: "r2"}, None),
                            ({"other": "x"}, ["/not-a-run"]), (None, ["/no-labels"]),
                            ({RUN_LABEL: "r3"}, ["/third"]))  # fmt: skip
    engine.fail["remove_container"] = [None, docker.errors.NotFound("gone"), None]
    prepared, said = infrastructure(engine)
    asked: list[list[str]] = []

    def crashed(ids: Any) -> list[str]:
        asked.append(list(ids))
        return ["r1", "r3", "r2"]

    prepared.reap(crashed)
    assert asked == [["r1", "r2", "r3"]]
    assert engine.calls == [
        ("list", {"all": True, "filters": {"label": RUN_LABEL}}),
        ("remove_container", ("id0", True)), ("remove_container", ("id4", True)),
        ("remove_container", ("id1", True)),
    ]  # fmt: skip
    assert said == ["Removed container first of crashed flow run r1.",
                    "Removed container id1 of crashed flow run r2."]  # fmt: skip


def test_reap_says_when_the_engine_cannot_list_its_containers() -> None:
    engine = Engine()
    engine.fail["list"] = OSError("socket closed")
    prepared, said = infrastructure(engine)
    prepared.reap(lambda ids: pytest.fail("asked"))
    assert said == ["Could not list the containers of crashed runs: socket closed"]
