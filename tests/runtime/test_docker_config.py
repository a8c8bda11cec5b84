"""The docker worker's job configuration, in this process: the pool's default docker template
plus job variables, mapped to the Docker SDK's container arguments as Prefect's docker worker
reads them; and the errors a run's configuration can carry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker.errors
import pytest

from flowplan.domain.job_config import WorkPoolJobConfiguration
from flowplan.domain.job_templates import default_template
from flowplan.domain.objects import FlowRun
from flowplan.errors import FlowplanError
from flowplan.runtime.infrastructure.docker import _explain, _split
from flowplan.runtime.infrastructure.docker_config import (
    RUN_LABEL,
    SOCKET,
    container_name,
    container_settings,
    docker_labels,
    environment,
    pull_policy,
)
from tests.runtime.helpers import a_run

HOST_SOCKET = "/tmp/flowplan-worker-x/reporter.sock"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> FlowRun:
    return a_run(tmp_path_factory.mktemp("run"))


def settings(run: FlowRun, **variables: Any) -> dict[str, Any]:
    config = WorkPoolJobConfiguration.from_template(default_template("docker"), variables)
    env = environment(run, config)
    env["FLOWPLAN_REPORTER"] = f"unix:{HOST_SOCKET} token123"
    return container_settings(config, run, env, HOST_SOCKET)


def test_an_image_alone_gives_prefects_defaults_and_the_channel(run: FlowRun) -> None:
    got = settings(run, image="flows:v1")
    assert got == {
        "image": "flows:v1",
        "command": ["python", "-m", "flowplan.runtime.engine", run.id],
        "environment": {
            "PYTHONUNBUFFERED": "1", "FLOWPLAN_FLOW_RUN_ID": run.id,
            "PREFECT__FLOW_RUN_ID": run.id, "FLOWPLAN_REPORTER": f"unix:{SOCKET} token123",
        },
        "labels": {
            RUN_LABEL: run.id, "io.flowplan.flow-run-name": run.name,
            "io.flowplan.flow-name": "f", "io.flowplan.deployment-name": "d",
            "io.flowplan.work-pool-name": "pool",
        },
        "name": run.name,
        "volumes": [f"{HOST_SOCKET}:{SOCKET}"],
        "privileged": False,
        "detach": True,
        "networks": [],
        "auto_remove": False,
    }  # fmt: skip


def test_every_job_variable_reaches_the_container(run: FlowRun) -> None:
    got = settings(
        run, image="reg.example:5000/team/flows:v2", command="python -m my.entry --flag 'a b'",
        env={"MODE": "prod", "PYTHONUNBUFFERED": None}, labels={"team": "data",
        "prefect.io/owner": "ana"}, name="nightly run #3", networks=["front", "back"],
        volumes=["/data:/data:ro", "cache:/cache"], mem_limit="128m", memswap_limit="-1",
        privileged=True, auto_remove=True,
        container_create_kwargs={"cpu_shares": 512, "image": "not-this", "name": "nor-this"},
    )  # fmt: skip
    assert got["image"] == "reg.example:5000/team/flows:v2"
    assert got["command"] == ["python", "-m", "my.entry", "--flag", "a b"]
    assert got["environment"]["MODE"] == "prod"
    assert "PYTHONUNBUFFERED" not in got["environment"]  # null removes it
    assert got["labels"]["team"] == "data"
    assert got["labels"]["io.prefect.owner"] == "ana"  # Prefect's label conversion
    assert got["name"] == "nightly-run-3"
    assert (got["network"], got["networks"]) == ("front", ["back"])
    assert got["volumes"] == ["/data:/data:ro", "cache:/cache", f"{HOST_SOCKET}:{SOCKET}"]
    assert (got["mem_limit"], got["memswap_limit"]) == ("128m", "-1")
    assert got["privileged"] is True and got["auto_remove"] is True
    assert got["cpu_shares"] == 512  # container_create_kwargs, but not over the worker's own


def test_network_mode_and_working_dir(run: FlowRun) -> None:
    got = settings(run, image="flows:v1", network_mode="host")
    assert got["network_mode"] == "host" and "network" not in got
    config = WorkPoolJobConfiguration(working_dir="/srv", extra={"image": "flows:v1"})
    assert container_settings(config, run, {}, None)["working_dir"] == "/srv"


def test_without_a_socket_nothing_is_mounted(run: FlowRun) -> None:
    config = WorkPoolJobConfiguration(extra={"image": "flows:v1"})
    assert container_settings(config, run, {"A": "1"}, None)["volumes"] == []


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"image": None}, "the docker worker needs an image: set job variable 'image'"),
        ({"image": "  "}, "the docker worker needs an image"),
        ({"volumes": ["/tmp:relative"]}, "job variable 'volumes[0]': '/tmp:relative' is not"),
        ({"volumes": ["/tmp"]}, "'volumes[0]': '/tmp' is not 'host-path-or-volume:"),
        ({"volumes": ["/a:/b", ":/c"]}, "'volumes[1]': ':/c' is not"),
        ({"volumes": ["/a:/b:rx"]}, "(mode 'rx' is not one of ro, rw, z, Z, ...)"),
        ({"volumes": ["/a:/b:ro:x"]}, "'volumes[0]': '/a:/b:ro:x' is not"),
        ({"volumes": "/a:/b"}, "job variable 'volumes' must be a list of strings, not '/a:/b'"),
        ({"networks": ["n"], "network_mode": "host"}, "'networks' and 'network_mode' cannot"),
        ({"mem_limit": "lots"}, "job variable 'mem_limit': 'lots' is not a size like 100000b"),
        ({"memswap_limit": "-2"}, "'memswap_limit': '-2' is not a size like 100000b, 1000k"),
        ({"privileged": "yes"}, "job variable 'privileged' must be true or false, not 'yes'"),
        ({"container_create_kwargs": ["x"]}, "'container_create_kwargs' must be a mapping"),
    ],
)
def test_a_bad_configuration_is_refused_naming_the_job_variable(
    run: FlowRun, variables: dict[str, Any], message: str
) -> None:
    extra = {"image": "flows:v1", **variables}
    config = WorkPoolJobConfiguration(extra=extra)
    with pytest.raises(FlowplanError) as caught:
        container_settings(config, run, {}, HOST_SOCKET)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("image", "policy", "expected"),
    [
        ("flows", None, "Always"),
        ("flows:latest", None, "Always"),
        ("flows:v1", None, "IfNotPresent"),
        ("reg:5000/flows", None, "Always"),  # a registry's port is not a tag
        ("reg:5000/flows:v1", "", "IfNotPresent"),
        ("flows@sha256:abc", None, "IfNotPresent"),
        ("flows:v1", "Always", "Always"),
        ("flows", "Never", "Never"),
        ("flows", "IfPossible", "IfPossible"),
    ],
)
def test_the_pull_policy_defaults_as_prefects(image: str, policy: Any, expected: str) -> None:
    assert pull_policy(image, policy) == expected


def test_an_unknown_pull_policy_is_refused() -> None:
    with pytest.raises(FlowplanError, match="'image_pull_policy': 'Sometimes' is not one of"):
        pull_policy("flows", "Sometimes")


def test_images_are_split_into_repository_and_tag() -> None:
    assert _split("flows") == ("flows", "latest")
    assert _split("reg:5000/team/flows:v1") == ("reg:5000/team/flows", "v1")
    assert _split("reg:5000/flows") == ("reg:5000/flows", "latest")
    assert _split("flows@sha256:abc") == ("flows@sha256:abc", None)
    assert _split("flows:v1") == ("flows", "v1")


def test_the_engines_explanation_is_said_as_text() -> None:
    assert _explain(docker.errors.APIError("500", explanation=b" no such image \n")) == (
        "no such image"
    )
    assert _explain(docker.errors.APIError("500", explanation="refused ")) == "refused"
    assert _explain(OSError("no socket")) == "no socket"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("quiet-koala", "quiet-koala"),
        ("nightly run #3", "nightly-run-3"),
        ("_.-leading", "leading"),
        ("ünïcode näme", "n-code-n-me"),
        ("x" * 300, "x" * 250),
        ("!", None),
        ("", None),
    ],
)
def test_container_names_are_slugs_docker_accepts(name: str, expected: str | None) -> None:
    assert container_name(name) == expected


def test_labels_are_converted_as_prefect_does() -> None:
    assert docker_labels({"prefect.io/flow-run-id": "1", "a.b.c/d": None, "plain": 2}) == {
        "io.prefect.flow-run-id": "1", "c.b.a.d": "", "plain": "2",
    }  # fmt: skip


def test_the_environment_is_the_jobs_not_the_workers(
    run: FlowRun, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WORKER_SECRET", "not for runs")
    config = WorkPoolJobConfiguration(env={"A": "1", "B": None, "PYTHONUNBUFFERED": "0"})
    assert environment(run, config) == {
        "A": "1", "PYTHONUNBUFFERED": "0", "FLOWPLAN_FLOW_RUN_ID": run.id,
        "PREFECT__FLOW_RUN_ID": run.id,
    }  # fmt: skip


SIZES = "is not a size like 100000b, 1000k, 128m or 1g"


@pytest.mark.parametrize(
    ("variables", "said"),
    [
        ({"image": None}, "the docker worker needs an image: set job variable 'image' to an image"
         " with Python and flowplan installed (e.g. -jv image=my-registry/flows:v1, or"
         " job_variables: {image: ...})"),
        ({"networks": ["n"], "network_mode": "host"}, "job variables 'networks' and"
         " 'network_mode' cannot both be set (Docker attaches a container either to networks or"
         " in a network mode)"),
        ({"volumes": ["/a:/b:ro,zz"]}, "job variable 'volumes[0]': '/a:/b:ro,zz' is not"
         " 'host-path-or-volume:/container/path[:mode]' (mode 'ro,zz' is not one of ro, rw, z,"
         " Z, ...)"),
        ({"mem_limit": "-1"}, f"job variable 'mem_limit': '-1' {SIZES}"),
        ({"memswap_limit": "-2"}, f"job variable 'memswap_limit': '-2' {SIZES} (or -1: no swap"
         " limit)"),
        ({"networks": "n"}, "job variable 'networks' must be a list of strings, not 'n'"),
        ({"network_mode": 5}, "job variable 'network_mode' must be a string, not 5"),
        ({"auto_remove": "x"}, "job variable 'auto_remove' must be true or false, not 'x'"),
    ],
)  # fmt: skip
def test_the_whole_message_of_a_refused_configuration(
    run: FlowRun, variables: dict[str, Any], said: str
) -> None:
    config = WorkPoolJobConfiguration(extra={"image": "flows:v1", **variables})
    with pytest.raises(FlowplanError) as caught:
        container_settings(config, run, {}, HOST_SOCKET)
    assert str(caught.value) == said


def test_modes_of_a_volume_are_a_comma_separated_list_and_flags_default_to_false(
    run: FlowRun,
) -> None:
    config = WorkPoolJobConfiguration(extra={"image": "flows:v1", "volumes": ["/a:/b:ro,z"]})
    got = container_settings(config, run, {}, None)
    assert got["volumes"] == ["/a:/b:ro,z"] and got["auto_remove"] is False


@pytest.mark.parametrize(("name", "expected"), [("ab", "ab"), ("a", None), ("ab-!", "ab"),
                                                ("a-", None)])  # fmt: skip
def test_a_container_name_keeps_two_characters_at_least(name: str, expected: str | None) -> None:
    assert container_name(name) == expected


def test_a_label_with_two_slashes_converts_its_first_part_only() -> None:
    assert docker_labels({"a.b/c/d": "x"}) == {"b.a.c/d": "x"}


def test_a_channel_whose_path_holds_a_space_reaches_the_container_with_its_token(
    run: FlowRun,
) -> None:
    config = WorkPoolJobConfiguration.from_template(default_template("docker"), {"image": "x"})
    env = environment(run, config)
    host = "/tmp/flowplan test/flowplan-worker-x/reporter.sock"
    env["FLOWPLAN_REPORTER"] = f"unix:{host} token123"
    got = container_settings(config, run, env, host)
    assert got["environment"]["FLOWPLAN_REPORTER"] == f"unix:{SOCKET} token123"
    assert got["volumes"] == [f"{host}:{SOCKET}"]


def test_an_unknown_pull_policy_names_the_policies() -> None:
    with pytest.raises(FlowplanError) as caught:
        pull_policy("flows", "Sometimes")
    assert str(caught.value) == (
        "job variable 'image_pull_policy': 'Sometimes' is not one of IfNotPresent, Always,"
        " IfPossible, Never"
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Nightly Run", "Nightly-Run"), ("Xmas-X", "Xmas-X"), ("XX", "XX")],
)
def test_a_container_name_keeps_capitals_and_strips_only_separators(
    name: str, expected: str
) -> None:
    assert container_name(name) == expected


def test_a_volume_without_a_mode_is_refused_without_a_word_about_modes(run: FlowRun) -> None:
    config = WorkPoolJobConfiguration(extra={"image": "flows:v1", "volumes": ["/tmp:relative"]})
    with pytest.raises(FlowplanError) as caught:
        container_settings(config, run, {}, None)
    assert str(caught.value) == (
        "job variable 'volumes[0]': '/tmp:relative' is not"
        " 'host-path-or-volume:/container/path[:mode]'"
    )


def test_memory_limits_take_capital_units_and_an_empty_one_is_no_limit(run: FlowRun) -> None:
    config = WorkPoolJobConfiguration(
        extra={"image": "flows:v1", "mem_limit": "1G", "memswap_limit": "", "network_mode": ""}
    )
    got = container_settings(config, run, {}, None)
    assert got["mem_limit"] == "1G"
    assert "memswap_limit" not in got and "network_mode" not in got
