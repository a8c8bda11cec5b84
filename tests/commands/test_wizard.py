"""The deploy wizard's questions, answered with keystrokes through prompt_toolkit's pipe input
(the real questionary prompts; one pipe per question)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from flowplan.commands.wizard import Given, Questionary, run_wizard
from tests.conftest import Result

DOWN, ENTER = "\x1b[B", "\r"
FLOWS = [("flows/etl.py:etl", "etl"), ("flows/etl.py:report", "report")]
ONE_POOL = {"only": ("process", ["default"])}


class Keys(Questionary):
    """Each question gets the next scripted keystrokes; its text must match the script."""

    def __init__(self, script: Sequence[tuple[str, str]]) -> None:
        self.script = list(script)

    def _run(self, message: str, call: Callable[[], Any]) -> Any:
        assert self.script, f"unexpected question: {message}"
        expected, keys = self.script.pop(0)
        assert expected in message, f"asked {message!r}, expected {expected!r}"
        with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
            pipe.send_text(keys)
            pipe.close()  # keys that leave the question unanswered end it (EOFError), not hang
            return call()

    def select(self, message: str, choices: Sequence[tuple[str, Any]], default: Any = None
               ) -> Any:  # fmt: skip
        return self._run(message, lambda: super(Keys, self).select(message, choices, default))

    def text(self, message: str, default: str = "",
             validate: Callable[[str], str | None] | None = None) -> str:  # fmt: skip
        return self._run(message, lambda: super(Keys, self).text(message, default, validate))

    def confirm(self, message: str, default: bool = True) -> bool:
        return self._run(message, lambda: super(Keys, self).confirm(message, default))


def wizard(script: Sequence[tuple[str, str]], tmp_path: Path, given: Given | None = None,
           pools: dict[str, tuple[str, list[str]]] = ONE_POOL) -> Any:  # fmt: skip
    keys = Keys(script)
    answers = run_wizard(keys, given or Given(), tmp_path, FLOWS, pools)
    assert keys.script == [], "questions left unasked"
    return answers


def test_enter_everywhere_deploys_the_first_flow_to_the_only_pool(tmp_path: Path) -> None:
    answers = wizard([("Which flow", ENTER), ("Deployment name", ENTER),
                      ("add a schedule", ENTER), ("Which work pool", ENTER)], tmp_path)  # fmt: skip
    assert answers.deployment == {
        "name": "default", "entrypoint": "flows/etl.py:etl", "work_pool": {"name": "only"},
        "pull": [{"prefect.deployments.steps.set_working_directory": {
            "directory": str(tmp_path)}}],
    }  # fmt: skip
    assert answers.new_pools == []


def test_typing_replaces_a_default_instead_of_appending_to_it(tmp_path: Path) -> None:
    # the defaults ("default", "3600", "UTC") are hints: what is typed is the whole answer
    answers = wizard([
        ("Which flow", ENTER), ("Deployment name", "nightly" + ENTER), ("add a schedule", "y"),
        ("What kind", ENTER), ("Seconds between runs", "0" + ENTER + "\x7f" + "60" + ENTER),
        ("Time zone", "Asia/Tokyo" + ENTER), ("Activate", ENTER), ("Add another", ENTER),
        ("Which work pool", ENTER),
    ], tmp_path)  # fmt: skip
    assert answers.deployment["name"] == "nightly"
    assert answers.deployment["schedules"] == [
        {"interval": 60, "timezone": "Asia/Tokyo", "active": True}
    ]


def test_only_missing_answers_are_asked(tmp_path: Path) -> None:
    given = Given(entrypoint="./flows/etl.py:report", name="weekly", schedules=[],
                  pool="only", has_pull_steps=True)  # fmt: skip
    answers = wizard([], tmp_path, given)
    assert answers.deployment == {"name": "weekly", "entrypoint": "flows/etl.py:report",
                                  "work_pool": {"name": "only"}}  # fmt: skip


def test_a_typed_entrypoint_is_checked(tmp_path: Path) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "etl.py").write_text("x = 1\n")
    answers = wizard([
        ("Which flow", DOWN + DOWN + ENTER),
        # not a flow: refused, the text is corrected, then accepted
        ("Entrypoint", "flows/etl.py:nope" + ENTER + "\x7f" * 4 + "report" + ENTER),
        ("Deployment name", "r" + ENTER), ("add a schedule", "n"),
        ("Which work pool", ENTER),
    ], tmp_path)  # fmt: skip
    assert answers.deployment["entrypoint"] == "flows/etl.py:report"
    assert answers.deployment["name"] == "r"


def test_two_schedules_and_a_bad_cron_corrected(tmp_path: Path) -> None:
    answers = wizard([
        ("Which flow", ENTER), ("Deployment name", ENTER), ("add a schedule", "y"),
        ("What kind", ENTER), ("Seconds between runs", "600" + ENTER),
        ("Time zone", ENTER), ("Activate", "n"), ("Add another", "y"),
        ("What kind", DOWN + ENTER),
        ("Cron expression", "99 * * * *" + ENTER + "\x7f" * 10 + "5 4 * * *" + ENTER),
        ("Time zone", "Mars/Base" + ENTER + "\x7f" * 9 + "Asia/Tokyo" + ENTER),
        ("Activate", ENTER), ("Add another", ENTER), ("Which work pool", ENTER),
    ], tmp_path)  # fmt: skip
    assert answers.deployment["schedules"] == [
        {"interval": 600, "timezone": "UTC", "active": False},
        {"cron": "5 4 * * *", "timezone": "Asia/Tokyo", "active": True},
    ]


def test_a_new_pool_and_a_queue_among_several(tmp_path: Path) -> None:
    pools = {"busy": ("process", ["default", "fast", "slow"])}
    answers = wizard([("Which flow", ENTER), ("Deployment name", ENTER),
                      ("add a schedule", ENTER), ("Which work pool", ENTER),
                      ("Which work queue", DOWN + ENTER)], tmp_path, pools=pools)  # fmt: skip
    assert answers.deployment["work_pool"] == {"name": "busy", "work_queue_name": "fast"}
    created = wizard([("Which flow", ENTER), ("Deployment name", ENTER), ("add a schedule", ENTER),
                      ("Which work pool", DOWN + ENTER),
                      ("Name of the new work pool", "prefect-x" + ENTER
                       + "\x7f" * 9 + "k8s" + ENTER),
                      ("Type of work pool", DOWN + DOWN + ENTER),
                      ("Build a custom Docker image", ENTER)], tmp_path, pools=pools)  # fmt: skip
    assert created.new_pools == [{"name": "k8s", "type": "kubernetes"}]
    assert created.deployment["work_pool"] == {"name": "k8s"}


def test_a_pool_given_with_its_type_is_not_asked_about(tmp_path: Path) -> None:
    given = Given(pool="fresh", pool_type="docker", has_pull_steps=True)
    answers = wizard([("Which flow", ENTER), ("Deployment name", ENTER),
                      ("add a schedule", ENTER), ("Build a custom Docker image", ENTER)],
                     tmp_path, given)  # fmt: skip
    assert answers.new_pools == [{"name": "fresh", "type": "docker"}]


def test_a_private_repository_token_is_a_reference(tmp_path: Path) -> None:
    git = {"repository": "https://example.com/private.git", "branch": "dev"}
    answers = wizard([("Which flow", ENTER), ("Deployment name", ENTER),
                      ("add a schedule", ENTER), ("Which work pool", ENTER),
                      ("Should workers pull", ENTER), ("private repository", "y"),
                      ("access token come from", ENTER), ("Name of the secret", ENTER)],
                     tmp_path, Given(git=git))  # fmt: skip
    assert answers.deployment["pull"] == [{"prefect.deployments.steps.git_clone": {
        "repository": "https://example.com/private.git", "branch": "dev",
        "access_token": "{{ prefect.blocks.secret.git-token }}"}}]  # fmt: skip
    by_env = wizard([("Which flow", ENTER), ("Deployment name", ENTER),
                     ("add a schedule", ENTER), ("Which work pool", ENTER),
                     ("Should workers pull", ENTER), ("private repository", "y"),
                     ("access token come from", DOWN + ENTER),
                     ("environment variable", ENTER)], tmp_path, Given(git=git))  # fmt: skip
    assert by_env.deployment["pull"][0]["prefect.deployments.steps.git_clone"][
        "access_token"] == "{{ $GIT_TOKEN }}"  # fmt: skip


def test_a_docker_pool_offers_an_image(tmp_path: Path) -> None:
    answers = wizard([("Which flow", ENTER), ("Deployment name", ENTER),
                      ("add a schedule", ENTER), ("Which work pool", ENTER),
                      ("Build a custom Docker image", "y"),
                      ("Image name", "reg.example.com/etl" + ENTER),
                      ("Image tag", ENTER), ("Push the image", "n")], tmp_path,
                     pools={"dock": ("docker", ["default"])})  # fmt: skip
    deployment = answers.deployment
    assert deployment["work_pool"] == {
        "name": "dock",
        "job_variables": {"image": "{{ build_image.image }}"},
    }
    assert deployment["build"][0]["prefect_docker.deployments.steps.build_docker_image"][
        "image_name"] == "reg.example.com/etl"  # fmt: skip
    assert "push" not in deployment


def test_without_a_terminal_deploy_never_asks(
    project: Callable[..., Path], cli: Callable[..., Result]
) -> None:
    project({"flows/etl.py": "from prefect import flow\n\n@flow\ndef etl():\n    pass\n"})
    missing = cli("deploy", "flows/etl.py:etl", "-n", "d")
    assert missing.code == 1
    assert "-p" in missing.err or "--pool" in missing.err, missing.err
    made = cli("deploy", "flows/etl.py:etl", "-n", "d", "-p", "new-pool", "--pool-type",
               "docker")  # fmt: skip
    assert made.code == 0, made.err
    assert "+ work pool 'new-pool'" in made.out
    bad = cli("deploy", "flows/etl.py:etl", "-n", "d", "-p", "x", "--pool-type", "dockr")
    assert bad.code == 1 and "did you mean 'docker'" in bad.err
    alone = cli("deploy", "flows/etl.py:etl", "-n", "d", "--pool-type", "docker")
    assert alone.code == 1 and "--pool-type names the type of the -p pool" in alone.err
